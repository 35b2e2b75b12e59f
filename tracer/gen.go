package tracer

// The objects are generated from bpf/ and committed, so that building ctrace
// needs no clang. `make generate` runs these with clang-19: first opsgen,
// which writes what the table of traced syscalls (ops.go) says into
// bpf/ctrace_ops.h, syscalls_*.go and the README, then bpf2go.
//go:generate go run ./internal/opsgen -header ../bpf/ctrace_ops.h -go . -readme ../README.md
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type ctrace_event -type ctrace_field -type ctrace_file -type ctrace_op -type ctrace_field_kind -type ctrace_field_flag -type ctrace_event_flag -type ctrace_file_flag -type ctrace_record_type -type ctrace_log -type ctrace_cap -type ctrace_lsm -type ctrace_lsm_hook bpf ../bpf/ctrace.bpf.c -- -I../bpf
