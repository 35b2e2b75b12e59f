/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the object shares with user space besides the record layout
 * (ctrace.h): the knobs set before load, and every map with the types of
 * its values. One place shows all that tracer/ sizes, fills and reads.
 * Like the other headers here, included by ctrace.bpf.c alone: ctrace is
 * one object, and these define what they declare.
 */
#ifndef CTRACE_MAPS_H
#define CTRACE_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ctrace.h"

/* Knobs, set by user space before load. The verifier sees them as
 * constants and drops the branches they turn off. */
const volatile __u32 self_tgid = 0; /* ctrace's own process: never traced */
const volatile bool trace_success = false; /* --all */
const volatile bool filter_tgid = false; /* only tgids in the tgids map */
const volatile bool filter_comm = false; /* only comms in the comms map */
const volatile bool filter_errno = false; /* only errnos set in errno_mask */
const volatile __u64 errno_mask[64] = {}; /* bit n: errno n passes */
/* Size of the kernel stack, to find the saved registers on kernels without
 * bpf_task_pt_regs() (before 5.15): 16 KiB on x86_64 without KASAN. */
const volatile __u32 thread_size = 16384;
/* Tracepoint programs may use task-local storage here (user space asks the
 * kernel): the entry mark of a task under a seccomp filter lives beside the
 * task (entry_marks) instead of in inflights. */
const volatile bool task_marks = false;
/* The kernel has the bpf_rdonly_cast kfunc (6.2+): see its declaration in
 * task.h. */
const volatile bool have_rdonly_cast = false;
/* --dedup: count failures identical to one sent in the same window in
 * repeats instead of sending them (aggregate.h). Off, no program looks at
 * the map: the verifier drops the branch. */
const volatile bool aggregate = false;
/* The kernel has bpf_ktime_get_coarse_ns (5.11+): a repeat's time is
 * read from the tick-grained monotonic clock, which costs a fraction of
 * the boot clock's read; before, from the boot clock. */
const volatile bool agg_coarse_clock = false;
/* security_vm_enough_memory_mm's code, [start, end), from kallsyms; 0 when
 * not known (memory_probe in ctrace.bpf.c). */
const volatile __u64 vm_acct_start = 0;
const volatile __u64 vm_acct_end = 0;

struct ctrace_buf {
	struct ctrace_event ev;
	/* Room for a field header and a longest string past any offset below
	 * CTRACE_DATA_MAX, so that masked offsets always stay inside. */
	__u8 data[CTRACE_DATA_MAX + sizeof(struct ctrace_field) + CTRACE_STR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* user space may resize */
} events SEC(".maps");

/* Records are built here, one slot a CPU, then copied into the ring buffer
 * at their real size: a ring buffer reservation must have a constant size.
 * Not a per-CPU array: its values are limited to 32 KiB. User space sets
 * max_entries to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctrace_buf);
} scratch SEC(".maps");

/* Records that did not fit in the ring buffer, by op. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CTRACE_OP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Processes to trace when filter_tgid is set: --pid, and the command run
 * with `ctrace run -- CMD` plus its descendants (see follow_fork). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

/* The dentry names of a path being resolved (put_file). */
struct walk {
	__u64 names[CTRACE_PATH_DEPTH]; /* const unsigned char * */
	__u32 len; /* entries of names set */
	__u32 pos; /* bytes of names copied */
	__u32 ncomp; /* names copied */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[CTRACE_COMM_LEN]);
	__type(value, __u8);
} comms SEC(".maps");

/* What is known about a thread's traced call while it is in flight. */
struct inflight {
	__u16 op; /* the call it is about */
	__u16 flags; /* enum inflight_flag */
	__u16 nlogs; /* kernel log records sent for the call */
	__u16 ncaps;
	__u16 nlsms;
	struct ctrace_cap caps[CTRACE_CAPS_MAX];
	struct ctrace_lsm lsms[CTRACE_LSMS_MAX];
};

enum inflight_flag {
	INFLIGHT_ENTERED = 1, /* the call passed its entry tracepoint */
	INFLIGHT_COUNTED = 2, /* counted in inflight_pending */
};

/* By thread id. LRU, so that state a thread never consumed (it exec'd from
 * a non-leader thread and changed its id) cannot fill the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct inflight);
} inflights SEC(".maps");

/* With task_marks: the traced call (enum ctrace_op) the task last entered,
 * 0 once its exit ran. Set only for tasks under a seccomp filter. A load
 * and a store beside the task, where inflights costs a hash update at
 * entry and a delete at exit. Where the kernel lacks task storage for
 * tracepoint programs user space makes this a small hash map that no
 * program reaches (task_marks is false). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} entry_marks SEC(".maps");

/* Entries of inflights made by reason programs (not by entry programs) and
 * not consumed yet. While it is zero, a successful exit of a task without a
 * seccomp filter skips the map. */
__u64 inflight_pending = 0;

/* Whether the reader sleeps until a record wakes it (tracer/read.go): it
 * sets its one entry before such a wait, after it found the ring empty
 * last; the record that wakes it, or the reader itself when the wait ends,
 * clears it. The reader writes it through its own mapping of the array. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} reader_asleep SEC(".maps");

/* Architecture syscall number -> enum ctrace_op, for the syscalls whose exit
 * is attached; 0 for the others. Reason programs use it to tell whether the
 * current task is in a traced call. */
#define SYSCALL_NR_MAX 1024
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYSCALL_NR_MAX);
	__type(key, __u32);
	__type(value, __u16);
} syscall_ops SEC(".maps");

/* enum op_flag bits by enum ctrace_op, set by user space after attaching. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CTRACE_OP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} op_flags SEC(".maps");

enum op_flag {
	/* The entry program is attached: a call of a task under a seccomp
	 * filter that did not pass it was rejected by the filter. */
	OPF_ENTRY = 1,
};

/* Log records are built here: up to a printk line each. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctrace_log);
} logbuf SEC(".maps");

/* The cgroup ids whose path the reader holds (tracer/event.go): records of
 * tasks in them leave the path out, and the reader puts it back. Only the
 * reader adds ids, after it decoded a record that carried the path, and
 * nothing removes them: a full map means paths are sent again, never that
 * one is missing. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Preallocated (about 64 bytes an entry): 5.10 warns about tracing
	 * programs that use hash maps allocated at run time. */
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} cgroups_known SEC(".maps");

/* What makes two failures identical for aggregate (aggregate.h): a hash
 * of who made them (cgroup and comm; the process too for a container
 * runtime process, whose command line names its container), the call,
 * its errno and record flags, and its arguments' fields, reasons
 * included; and the window. One 16-byte key: the map hashes fewer bytes
 * than it would of the parts. */
struct agg_key {
	__u64 hash;
	__u64 epoch; /* agg_epoch's value when the call was counted */
};

/* Calls counted, not sent, since the entry's first record. */
struct agg_val {
	__u64 count;
	/* The last one's time: the coarse monotonic clock with
	 * agg_coarse_clock, else the boot clock. */
	__u64 last_ns;
};

/* The current window of --dedup, which only user space advances
 * (tracer/aggregate.go): every count is keyed by the window it was read
 * in. Reading it is a load; reading a clock to find the window cost a
 * repeat a sixth of its time. Mapped into user space, which writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} agg_epoch SEC(".maps");

/* The counts of --dedup. A plain hash map, not an LRU: an LRU evicts
 * silently, and a count evicted is a count lost. The kernel adds entries
 * (with the record it sends whole) and adds to their counts, only in the
 * window of their key's epoch; user space reads an entry once its window
 * has ended, and deletes it (tracer/aggregate.go), so no count is added
 * to an entry after it was read. When the map is full a failure is sent
 * whole. Preallocated: see cgroups_known. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct agg_key);
	__type(value, struct agg_val);
} repeats SEC(".maps");

/* The exit program of each traced op, filled by user space: the raw
 * sys_exit dispatcher tail-calls it (ctrace.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CTRACE_OP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} exits SEC(".maps");

#endif /* CTRACE_MAPS_H */
