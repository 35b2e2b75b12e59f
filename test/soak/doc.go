// Package soak holds ctrace's soak test: a long run of the tracer, the
// container resolver and the summary table against a real containerd,
// with an exec probe into one container and a stream of distinct kernel
// log lines, checking that what they keep stays bounded. It runs in
// `make test` for about a minute (-short: a few seconds;
// CTRACE_SOAK=10m for longer).
package soak
