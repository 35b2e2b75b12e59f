// Package testing holds nothing itself: its sub-packages are the test
// harnesses (a private containerd, a one-node kubelet, an OpenTelemetry
// Collector, a ctrace under test, synthetic events), kept apart so that
// internal/ reads as the product.
package testing
