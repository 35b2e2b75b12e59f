// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctrace kernel side. Each traced syscall has an exit program on its own
 * syscalls:sys_exit_<name> tracepoint (tp_exit_<name>), and one program
 * (tp_sys_enter) on the traced syscalls' entries marks the calls of tasks
 * under a seccomp filter. Untraced syscalls run no ctrace program. Where
 * tracefs is missing, two raw tracepoint programs take their place:
 * sys_exit looks the syscall number up and tail-calls the exit program of
 * a traced syscall (exit_<name>), sys_enter marks the entries; they run
 * for every syscall (see sys_exit).
 *
 * The success path is a lookup, a load and a compare: the dispatcher tests
 * the return value first and returns at once for calls that succeeded
 * (unless --all is set).
 * Only failing calls read their arguments, which are still in the task's
 * saved user registers at syscall exit, and the user memory they point to.
 *
 * Why a call failed is gathered while it is in flight, into per-thread
 * state (struct inflight) that only exists when there is something to say:
 * a capability denial (capability:cap_capable), a kernel log line
 * (printk:console), or, for tasks under a seccomp filter, the mark that
 * the call passed its entry tracepoint. The exit consumes the state. Tasks
 * without a seccomp filter have no program work at entry beyond one load.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "ctrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* bpf2go -type takes the wire types from this object's BTF; these pointers,
 * never used, keep the ones no code names there. */
const struct ctrace_field *_ctrace_field __attribute__((unused));
const struct ctrace_file *_ctrace_file __attribute__((unused));
const enum ctrace_op *_ctrace_op __attribute__((unused));
const enum ctrace_field_kind *_ctrace_field_kind __attribute__((unused));
const enum ctrace_field_flag *_ctrace_field_flag __attribute__((unused));
const enum ctrace_event_flag *_ctrace_event_flag __attribute__((unused));
const enum ctrace_file_flag *_ctrace_file_flag __attribute__((unused));
const enum ctrace_record_type *_ctrace_record_type __attribute__((unused));
const struct ctrace_log *_ctrace_log __attribute__((unused));
const struct ctrace_cap *_ctrace_cap __attribute__((unused));
const struct ctrace_lsm *_ctrace_lsm __attribute__((unused));
const enum ctrace_lsm_hook *_ctrace_lsm_hook __attribute__((unused));

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
/* The kernel has the bpf_rdonly_cast kfunc (6.2+): see its declaration. */
const volatile bool have_rdonly_cast = false;

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

/* What an exit program reads for each argument, four bits an argument.
 * This is private to the kernel side: records say what they carry. */
enum arg_kind {
	A_VAL = 0, /* the register only */
	A_STR = 1, /* a user string */
	A_FD = 2, /* a file descriptor: what it refers to */
	A_STRUCT = 3, /* a user struct; its size is the next argument */
	A_ARGV = 4, /* a NULL-terminated array of user strings */
};
#define ARGS(a0, a1, a2, a3, a4, a5)                                          \
	((a0) | (a1) << 4 | (a2) << 8 | (a3) << 12 | (a4) << 16 | (a5) << 20)
#define ARG_KIND(kinds, i) (((kinds) >> ((i) * 4)) & 0xf)

#define NSFS_MAGIC_ 0x6e736673 /* include/uapi/linux/magic.h */

/* The current thread's id: the key of its in-flight state. */
static __always_inline __u32 cur_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* Whether the current task is ctrace's own process, which is never traced. */
static __always_inline bool is_self(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

/* The same, for an exit program that holds the task (cur_task()). */
static __always_inline bool task_is_self(struct task_struct *t)
{
	if (t)
		return t->tgid == self_tgid;
	return is_self();
}

static __always_inline bool errno_passes(long ret)
{
	__u64 e, word;

	if (ret >= 0 || ret < -4095)
		return false;
	/* 64-bit arithmetic and an explicit bound: verifiers before 6.2 lose
	 * the bound of a masked 32-bit index into .rodata. */
	e = -ret;
	word = e >> 6;
	barrier_var(word);
	if (word >= 64)
		return false;
	return (errno_mask[word] >> (e & 63)) & 1;
}

#if defined(__TARGET_ARCH_arm64)
/* vmlinux.h is x86_64's; arm64's saved registers, as CO-RE finds them in
 * the running kernel's struct pt_regs. */
struct pt_regs___ctrace_arm64 {
	__u64 regs[31];
	__u64 orig_x0; /* x0 is the return value at exit; the first argument is here */
	__s32 syscallno;
} __attribute__((preserve_access_index));
#endif

/* Whether the kernel hands out the current task as a BTF pointer
 * (bpf_get_current_task_btf, 5.11+). Loads through it are plain loads that
 * the verifier guards (a fault reads 0), where BPF_CORE_READ makes a
 * bpf_probe_read_kernel call per pointer it follows. */
#define HAVE_TASK_BTF bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)

/* The current task as a BTF pointer, or NULL before 5.11. An exit program
 * asks once and hands it down: every helper call is a call and a return
 * into the kernel, which kernels that harden returns (x86's return
 * thunks) make several times as dear as a load, and the compiler may not
 * merge two calls of the same helper. */
static __always_inline struct task_struct *cur_task(void)
{
	return HAVE_TASK_BTF ? bpf_get_current_task_btf() : NULL;
}

/* bpf_rdonly_cast (6.2+) turns an address into a typed pointer whose
 * loads the verifier guards (a fault reads 0), without a helper call: the
 * verifier replaces the call with a move. have_rdonly_cast says whether
 * the kernel has it (user space looks it up in the kernel's BTF): a
 * constant to the verifier, which then never reaches the call where it is
 * missing, and the reads are bpf_probe_read_kernel calls. (Not
 * bpf_ksym_exists(): kernels before 6.4 refuse the load of a kfunc's
 * address it makes.) */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The syscall number in saved user registers. */
static __always_inline __u64 regs_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return (__u32)BPF_CORE_READ((struct pt_regs___ctrace_arm64 *)regs, syscallno);
#else
#error "ctrace: regs_syscall_nr needs the syscall registers of this architecture"
#endif
}

/* The user registers the current task saved when it entered the kernel. */
static __always_inline struct pt_regs *user_regs(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs))
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	struct task_struct *t = (void *)bpf_get_current_task();
	void *stack = BPF_CORE_READ(t, stack);

	if (!stack)
		return NULL;
	return (struct pt_regs *)(stack + thread_size) - 1;
}

/* The syscall's arguments, from the user registers saved at entry. They
 * are intact at exit for every failing call; a successful execve replaces
 * them with the new image's. */
static __always_inline bool read_args(struct task_struct *t, __u64 *args)
{
	struct pt_regs *regs;

#if defined(__TARGET_ARCH_x86)
	/* bpf_task_pt_regs() (5.15+) returns a BTF pointer: plain loads. */
	if (t && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(t);
		args[0] = regs->di;
		args[1] = regs->si;
		args[2] = regs->dx;
		args[3] = regs->r10;
		args[4] = regs->r8;
		args[5] = regs->r9;
		return true;
	}
#endif
	regs = user_regs();
	if (!regs)
		return false;
#if defined(__TARGET_ARCH_x86)
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	args[3] = BPF_CORE_READ(regs, r10);
	args[4] = BPF_CORE_READ(regs, r8);
	args[5] = BPF_CORE_READ(regs, r9);
#elif defined(__TARGET_ARCH_arm64)
	struct pt_regs___ctrace_arm64 *r = (void *)regs;

	args[0] = BPF_CORE_READ(r, orig_x0);
	args[1] = BPF_CORE_READ(r, regs[1]);
	args[2] = BPF_CORE_READ(r, regs[2]);
	args[3] = BPF_CORE_READ(r, regs[3]);
	args[4] = BPF_CORE_READ(r, regs[4]);
	args[5] = BPF_CORE_READ(r, regs[5]);
#else
#error "ctrace: read_args needs the syscall registers of this architecture"
#endif
	return true;
}

/* Who the current task is; bt is cur_task(). Where the kernel hands out
 * the task's BTF pointer, the ids and the comm are plain loads from it,
 * which is what the helpers read (the task's pid and tgid, its subjective
 * credentials' uid and gid as seen from the initial user namespace, its
 * cgroup on the default hierarchy, its comm); and from 6.2 the pid
 * namespace too (bpf_rdonly_cast). */
static __always_inline void fill_proc(struct task_struct *bt, struct ctrace_event *ev)
{
	struct task_struct *t;
	struct pid *pid;
	struct upid upid = {};
	__u32 level;

	if (bt) {
		struct nsproxy *nsp = bt->nsproxy;
		const struct cred *cred = bt->cred;
		struct pid_namespace *pns = NULL;
		__u64 at;

		ev->pid = bt->tgid;
		ev->tid = bt->pid;
		ev->uid = cred->uid.val;
		ev->gid = cred->gid.val;
		ev->cgroup_id = bt->cgroups->dfl_cgrp->kn->id;
		ev->ppid = bt->real_parent->tgid;
		ev->mntns = nsp->mnt_ns->ns.inum;
		ev->netns = nsp->net_ns->ns.inum;
		ev->userns = cred->user_ns->ns.inum;
		/* The comm is what bpf_get_current_comm() copies, here two
		 * loads; the kernel keeps it NUL-terminated. */
		__builtin_memcpy(ev->comm, bt->comm, sizeof(ev->comm));
		pid = bt->thread_pid;
		level = pid->level;
		/* A variable index is no plain load from a BTF pointer: take
		 * numbers[level] at its address. */
		at = (__u64)pid + bpf_core_field_offset(struct pid, numbers) +
		     (level & 31) * bpf_core_type_size(struct upid);
		if (have_rdonly_cast) {
			struct upid *u = bpf_rdonly_cast((void *)at, bpf_core_type_id_kernel(struct upid));

			ev->pidns = u->ns->ns.inum;
			return;
		}
		bpf_probe_read_kernel(&pns, sizeof(pns), (void *)(at + bpf_core_field_offset(struct upid, ns)));
		ev->pidns = BPF_CORE_READ(pns, ns.inum);
		return;
	}
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->uid = (__u32)ug;
	ev->gid = ug >> 32;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	t = (void *)bpf_get_current_task();
	ev->ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->mntns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	ev->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	ev->userns = BPF_CORE_READ(t, cred, user_ns, ns.inum);
	/* The task's own pid namespace is the one at its pid's deepest level
	 * (nsproxy->pid_ns_for_children is its children's). */
	pid = BPF_CORE_READ(t, thread_pid);
	level = BPF_CORE_READ(pid, level);
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	ev->pidns = BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline struct ctrace_field *field_at(struct ctrace_buf *b, __u32 off)
{
	return (struct ctrace_field *)&b->data[off & (CTRACE_DATA_MAX - 1)];
}

/* Close a field of len data bytes at off; returns the next field's offset. */
static __always_inline __u32 close_field(struct ctrace_buf *b, __u32 off, __u8 arg,
					 __u8 kind, __u8 flags, __u32 len)
{
	struct ctrace_field *f = field_at(b, off);

	f->arg = arg;
	f->kind = kind;
	f->flags = flags;
	f->_pad = 0;
	f->len = len;
	b->ev.nfields++;
	return off + ((sizeof(*f) + len + 7) & ~7);
}

/* Room left for a field of up to need data bytes at off. */
static __always_inline bool fits(__u32 off, __u32 need)
{
	return off + sizeof(struct ctrace_field) + need <= CTRACE_DATA_MAX;
}

/* Reserves a field of up to need data bytes at *off: false if the record
 * has no room left. On success *off is masked to the slot, so that the
 * verifier can bound the writes that follow. */
static __always_inline bool reserve(__u32 *off, __u32 need)
{
	__u32 o = *off;

	if (!fits(o, need))
		return false;
	/* fits() bounds o for us, not for the verifier: keep the mask. */
	barrier_var(o);
	*off = o & (CTRACE_DATA_MAX - 1);
	return true;
}

/* Where the data of the field at off (reserved) starts. */
static __always_inline __u8 *field_data(struct ctrace_buf *b, __u32 off)
{
	return &b->data[off + sizeof(struct ctrace_field)];
}

static __noinline __u32 put_str(struct ctrace_buf *b, __u32 off, __u8 arg, const char *s)
{
	__u8 flags = 0;
	long n;

	if (!s || !reserve(&off, CTRACE_STR_MAX))
		return off;
	n = bpf_probe_read_user_str(field_data(b, off), CTRACE_STR_MAX, s);
	if (n < 0) {
		flags = CTRACE_FIELD_FAULT;
		n = 0;
	} else {
		/* n counts the NUL; a string that filled the buffer may
		 * have been cut. */
		if (n == CTRACE_STR_MAX)
			flags = CTRACE_FIELD_TRUNCATED;
		if (n > 0)
			n--;
	}
	return close_field(b, off, arg, CTRACE_FIELD_STR, flags, n & (CTRACE_STR_MAX - 1));
}

static __noinline __u32 put_struct(struct ctrace_buf *b, __u32 off, __u8 arg,
				   const void *p, __u64 size)
{
	__u8 flags = 0;
	__u32 n = size;

	if (!p || size == 0 || !reserve(&off, CTRACE_STRUCT_MAX))
		return off;
	if (size > CTRACE_STRUCT_MAX) {
		n = CTRACE_STRUCT_MAX;
		flags = CTRACE_FIELD_TRUNCATED;
	}
	n &= (CTRACE_STRUCT_MAX * 2 - 1);
	if (n > CTRACE_STRUCT_MAX)
		return off;
	if (bpf_probe_read_user(field_data(b, off), n, p) < 0) {
		flags = CTRACE_FIELD_FAULT;
		n = 0;
	}
	return close_field(b, off, arg, CTRACE_FIELD_STRUCT, flags, n);
}

/* Strings of a NULL-terminated user array, each with its NUL. */
static __noinline __u32 put_argv(struct ctrace_buf *b, __u32 off, __u8 arg, const char *const *argv)
{
	__u32 start, pos = 0;
	__u8 flags = 0;
	int i;

	if (!argv || !reserve(&off, CTRACE_ARGV_BYTES + CTRACE_STR_MAX))
		return off;
	start = off + sizeof(struct ctrace_field);
	for (i = 0; i < CTRACE_ARGV_MAX; i++) {
		const char *s = NULL;
		long n;

		if (bpf_probe_read_user(&s, sizeof(s), &argv[i]) < 0) {
			flags |= CTRACE_FIELD_FAULT;
			break;
		}
		if (!s)
			break;
		if (pos > CTRACE_ARGV_BYTES) {
			flags |= CTRACE_FIELD_TRUNCATED;
			break;
		}
		n = bpf_probe_read_user_str(&b->data[(start + pos) & (CTRACE_DATA_MAX - 1)],
					    CTRACE_STR_MAX, s);
		if (n <= 0) {
			flags |= CTRACE_FIELD_FAULT;
			break;
		}
		pos += n;
	}
	if (i == CTRACE_ARGV_MAX) {
		const char *s = NULL;

		bpf_probe_read_user(&s, sizeof(s), &argv[i]);
		if (s)
			flags |= CTRACE_FIELD_TRUNCATED;
	}
	return close_field(b, off, arg, CTRACE_FIELD_ARGV, flags, pos & (2 * CTRACE_DATA_MAX - 1));
}

/* The argument strings in the current task's mm, each with its NUL: after
 * a successful execve, those the kernel copied to the new image's stack. */
static __noinline __u32 put_mm_args(struct ctrace_buf *b, __u32 off, __u8 arg, __u8 kind, __u8 flags)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u64 n = end - start;

	if (!start || end <= start || !reserve(&off, CTRACE_ARGV_BYTES))
		return off;
	if (n > CTRACE_ARGV_BYTES) {
		n = CTRACE_ARGV_BYTES;
		flags |= CTRACE_FIELD_TRUNCATED;
	}
	n &= 2 * CTRACE_ARGV_BYTES - 1;
	if (n > CTRACE_ARGV_BYTES)
		return off;
	if (bpf_probe_read_user(field_data(b, off), n, (void *)start) < 0) {
		flags |= CTRACE_FIELD_FAULT;
		n = 0;
	}
	return close_field(b, off, arg, kind, flags, n);
}

/* The one name a file without a path is shown by, as /proc/PID/fd shows
 * it: an nsfs file's namespace type (net:[ino]), or the name a dentry makes
 * up (d_dname: anon inodes, pipes, sockets). False for files with a path. */
static __always_inline bool pseudo_name(struct inode *inode, __u32 magic, struct dentry *d,
					const unsigned char **name)
{
	if (magic == NSFS_MAGIC_) {
		struct ns_common *ns = BPF_CORE_READ(inode, i_private);

		*name = (const unsigned char *)BPF_CORE_READ(ns, ops, name);
		return true;
	}
	if (BPF_CORE_READ(d, d_op, d_dname)) {
		*name = BPF_CORE_READ(d, d_name.name);
		return true;
	}
	return false;
}

/* Follows d up to the root of its mount namespace, crossing mount points,
 * and keeps the names on the way in walk->names, leaf first. Only chases
 * pointers: copy_names() copies. Loop-carried counts live in map memory
 * rather than registers, which keeps the verifier's work linear. */
static __always_inline void walk_path(struct walk *walk, struct dentry *d, struct vfsmount *vm,
				      __u8 *flags)
{
	struct mount *mnt = (struct mount *)((void *)vm - bpf_core_field_offset(struct mount, mnt));
	int i;

	walk->len = 0;
	for (i = 0; i < CTRACE_PATH_DEPTH; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);

		if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt || !up)
				break; /* the root of the mount namespace */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vm = (struct vfsmount *)((void *)up + bpf_core_field_offset(struct mount, mnt));
			continue;
		}
		walk->names[walk->len & (CTRACE_PATH_DEPTH - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
		walk->len++;
		d = parent;
	}
	if (i == CTRACE_PATH_DEPTH)
		*flags |= CTRACE_FIELD_TRUNCATED;
}

/* Copies the names walk_path() kept to start, each with its NUL; returns
 * their bytes, and their number in walk->ncomp. */
static __always_inline __u32 copy_names(struct ctrace_buf *b, __u32 start, struct walk *walk,
					__u8 *flags)
{
	int i;

	walk->pos = 0;
	walk->ncomp = 0;
	for (i = 0; i < CTRACE_PATH_DEPTH; i++) {
		__u32 at = walk->pos;
		long n;

		if (i >= walk->len)
			break;
		if (at > CTRACE_STR_MAX) {
			*flags |= CTRACE_FIELD_TRUNCATED;
			break;
		}
		n = bpf_probe_read_kernel_str(&b->data[(start + at) & (CTRACE_DATA_MAX - 1)],
					      CTRACE_NAME_MAX, (const void *)walk->names[i]);
		if (n <= 0) {
			*flags |= CTRACE_FIELD_FAULT;
			break;
		}
		walk->pos = at + n;
		walk->ncomp++;
	}
	return walk->pos;
}

/*
 * What a struct file refers to, as d_path() would put it: the dentry names
 * from the file up to the root of its mount namespace, crossing mount
 * points, leaf first. Pseudo files (anon inodes, pipes, sockets) and nsfs
 * files carry the one name user space needs to print them as strace -y does.
 * The walk takes no locks: a rename racing with it may show a mixed path.
 */
static __noinline __u32 put_file(struct ctrace_buf *b, __u32 off, __u8 arg,
				 struct file *file, __u8 flags)
{
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	const unsigned char *name = NULL;
	struct ctrace_file *cf;
	struct walk *walk;
	__u32 start, pos = 0, zero = 0;

	if (!file || !reserve(&off, sizeof(*cf) + CTRACE_STR_MAX + CTRACE_NAME_MAX))
		return off;
	cf = (struct ctrace_file *)field_data(b, off);
	cf->ino = BPF_CORE_READ(inode, i_ino);
	cf->magic = BPF_CORE_READ(inode, i_sb, s_magic);
	cf->flags = 0;
	cf->ncomp = 0;
	start = off + sizeof(struct ctrace_field) + sizeof(*cf);
	if (pseudo_name(inode, cf->magic, d, &name)) {
		cf->flags = CTRACE_FILE_PSEUDO;
		if (name) {
			long n = bpf_probe_read_kernel_str(&b->data[start & (CTRACE_DATA_MAX - 1)],
							   CTRACE_NAME_MAX, name);
			if (n > 0) {
				pos = n;
				cf->ncomp = 1;
			}
		}
	} else {
		walk = bpf_map_lookup_elem(&walks, &zero);
		if (!walk)
			return off;
		walk_path(walk, d, BPF_CORE_READ(file, f_path.mnt), &flags);
		pos = copy_names(b, start, walk, &flags);
		cf->ncomp = walk->ncomp;
	}
	return close_field(b, off, arg, CTRACE_FIELD_FILE, flags,
			   (sizeof(*cf) + pos) & (2 * CTRACE_DATA_MAX - 1));
}

static __always_inline struct file *fd_file(int fd)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_core_read(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline __u32 put_fd(struct ctrace_buf *b, __u32 off, __u8 arg, __u64 fd)
{
	/* AT_FDCWD and other negative values name no file. */
	if ((int)fd < 0)
		return off;
	return put_file(b, off, arg, fd_file((int)fd), 0);
}

static __always_inline void count_lost(__u16 op)
{
	__u32 key = op;
	__u64 *n = bpf_map_lookup_elem(&lost, &key);

	if (n)
		(*n)++;
}

/* Wakes the reader if it sleeps until woken, once: waking it is most of
 * what a record costs otherwise (the kernel queues an irq_work, whose
 * interrupt exits to the hypervisor on a virtual machine: 1.1-1.5 us of a
 * failing openat's 1.8 us when every record woke the reader, and still
 * 150-200 ns of 700 when one did every 200 us; docs/BENCHMARKS.md). A
 * reader that is reading, or waiting a bounded time for more (its
 * catch-up wait), is not woken at all.
 *
 * Called after the record's commit, an atomic exchange (a full barrier):
 * the reader sets the flag before it looks at the ring, so either it sees
 * the record or this sees the flag. The wake-up is an empty record,
 * discarded: the ring's only way to wake a reader without data to read. */
static __always_inline void wake_reader(void)
{
	__u32 zero = 0, *asleep = bpf_map_lookup_elem(&reader_asleep, &zero);
	void *p;

	if (!asleep || !*asleep)
		return;
	p = bpf_ringbuf_reserve(&events, 8, 0);
	if (!p)
		return; /* the ring is full: the next record tries again */
	*asleep = 0; /* racing CPUs wake it twice at worst */
	bpf_ringbuf_discard(p, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void submit(struct ctrace_buf *b, __u32 off, __u16 op)
{
	__u64 size = sizeof(b->ev) + (off & (2 * CTRACE_DATA_MAX - 1));

	if (size > sizeof(*b))
		size = sizeof(*b);
	b->ev.size = size - sizeof(b->ev);
	if (bpf_ringbuf_output(&events, b, size, BPF_RB_NO_WAKEUP) < 0) {
		count_lost(op);
		return;
	}
	wake_reader();
}

/* Filters that drop a call before anything is read. */
static __always_inline bool wanted(struct task_struct *t, long ret)
{
	if (task_is_self(t))
		return false;
	if (filter_tgid) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (!bpf_map_lookup_elem(&tgids, &tgid))
			return false;
	}
	/* --errno selects failures; successes shown by --all pass. */
	if (filter_errno && ret < 0 && !errno_passes(ret))
		return false;
	if (filter_comm) {
		char comm[CTRACE_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&comms, comm))
			return false;
	}
	return true;
}

/* Whether the current task is part of the container runtime: runc in all
 * its stages ("runc", "runc:[2:INIT]"), the containerd shims and containerd.
 * Their set-up calls (stat, mkdir, ...) are traced; everyone else's are not. */
static __always_inline bool runtime_comm_is(const char *c)
{
	if (c[0] == 'r' && c[1] == 'u' && c[2] == 'n' && c[3] == 'c')
		return true;
	return c[0] == 'c' && c[1] == 'o' && c[2] == 'n' && c[3] == 't' && c[4] == 'a' &&
	       c[5] == 'i' && c[6] == 'n' && c[7] == 'e' && c[8] == 'r' && c[9] == 'd';
}

static __always_inline bool runtime_comm(struct task_struct *t)
{
	char c[CTRACE_COMM_LEN] = {};

	if (t)
		return runtime_comm_is(t->comm);
	bpf_get_current_comm(c, sizeof(c));
	return runtime_comm_is(c);
}

static __always_inline struct ctrace_buf *begin(struct task_struct *t, long ret, __u16 op)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ctrace_buf *b = bpf_map_lookup_elem(&scratch, &cpu);

	if (!b) {
		count_lost(op);
		return NULL;
	}
	b->ev.type = CTRACE_REC_EVENT;
	b->ev.ts_ns = bpf_ktime_get_boot_ns();
	b->ev.ret = ret;
	b->ev.op = op;
	b->ev.flags = 0;
	b->ev.nfields = 0;
	b->ev.nlogs = 0;
	fill_proc(t, &b->ev);
	if (!read_args(t, b->ev.args)) {
		__builtin_memset(b->ev.args, 0, sizeof(b->ev.args));
		b->ev.flags |= CTRACE_EV_NO_ARGS;
	}
	return b;
}

static __always_inline __u32 put_arg(struct ctrace_buf *b, __u32 off, int i, __u32 kind)
{
	__u64 v = b->ev.args[i];

	switch (kind) {
	case A_STR:
		return put_str(b, off, i, (const char *)v);
	case A_FD:
		return put_fd(b, off, i, v);
	case A_STRUCT:
		return put_struct(b, off, i, (const void *)v, i < CTRACE_NARGS - 1 ? b->ev.args[i + 1] : 0);
	case A_ARGV:
		return put_argv(b, off, i, (const char *const *)v);
	}
	return off;
}

/* ---- in-flight state: why a call failed ------------------------------ */

#define SECCOMP_MODE_FILTER_ 2 /* include/uapi/linux/seccomp.h */
#define PF_KTHREAD_ 0x00200000 /* include/linux/sched.h */
#define TS_COMPAT_ 0x0002 /* arch/x86/include/asm/thread_info.h */

/* Asked on the success path of every traced call. Where the kernel has
 * bpf_get_current_task_btf (5.11+) the mode is loaded directly, without a
 * probe-read helper call. */
static __always_inline bool under_seccomp(void)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return bpf_get_current_task_btf()->seccomp.mode == SECCOMP_MODE_FILTER_;

	struct task_struct *t = (void *)bpf_get_current_task();

	return BPF_CORE_READ(t, seccomp.mode) == SECCOMP_MODE_FILTER_;
}

/* Whether every seccomp filter of the current task lets syscall nr (a
 * native number) through whatever its arguments. The kernel works that out
 * when a filter is attached (struct action_cache, 5.11+) and checks the
 * bitmap before it runs the filters; a filter attached later can only
 * clear bits. Such a call needs no entry mark: nothing can have refused
 * it. Container runtimes' default profiles allow most traced calls
 * (openat, execve, stat) this way, so the calls of nearly every container
 * process skip the mark. Where the bitmap is missing (5.10, an arm64
 * kernel built without it) the answer is no, and the mark is made.
 *
 * The one case this gets wrong, rather than leaving out: another thread
 * attaches a filter with SECCOMP_FILTER_FLAG_TSYNC while this call runs,
 * and it clears the call's bit; the call then fails on its own and looks
 * refused. The mode check before it (a task under no filter makes no
 * mark) has the same window. */
static __always_inline bool filter_allows(struct task_struct *t, __u32 nr)
{
	struct seccomp_filter *f;
	unsigned long w;

	if (!bpf_core_field_exists(struct seccomp_filter, cache))
		return false;
	f = t->seccomp.filter;
	if (!f || nr >= bpf_core_field_size(f->cache.allow_native) * 8)
		return false;
	/* The verifier takes only a known offset from a BTF pointer: one
	 * case per word gives it one on each path. */
	switch (nr / 64) {
	case 0: w = f->cache.allow_native[0]; break;
	case 1: w = f->cache.allow_native[1]; break;
	case 2: w = f->cache.allow_native[2]; break;
	case 3: w = f->cache.allow_native[3]; break;
	case 4: w = f->cache.allow_native[4]; break;
	case 5: w = f->cache.allow_native[5]; break;
	case 6: w = f->cache.allow_native[6]; break;
	case 7: w = f->cache.allow_native[7]; break;
	default: return false;
	}
	return (w >> (nr % 64)) & 1;
}

/* Whether a seccomp filter of the current task may have refused syscall
 * nr: the calls whose entries are marked and whose exits look for the
 * mark. Asked on the success path of every traced call, from one load of
 * the task. Before 5.11 (no BTF task pointer) every call of a task under
 * a filter may have been refused. */
static __always_inline bool may_refuse(struct task_struct *t, __u32 nr)
{
	if (!t)
		return under_seccomp();
	return t->seccomp.mode == SECCOMP_MODE_FILTER_ && !filter_allows(t, nr);
}

/* The op of a syscall number: 0 for syscalls that are not traced. */
static __always_inline __u16 op_of(__u64 nr)
{
	__u32 key = nr;
	__u16 *op;

	if (nr >= SYSCALL_NR_MAX)
		return 0;
	op = bpf_map_lookup_elem(&syscall_ops, &key);
	return op ? *op : 0;
}

/* The traced syscall the current task is in, or 0. Reason programs run
 * inside the call, so the syscall number is still in the saved registers.
 * Kernel threads and x86's 32-bit calls (other numbers) are never in a
 * traced call. (arm64's 32-bit tasks use other numbers too; they are rare
 * on container nodes and not told apart here.) */
static __always_inline __u16 current_op(void)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct pt_regs *regs;

	if (BPF_CORE_READ(t, flags) & PF_KTHREAD_)
		return 0;
#if defined(__TARGET_ARCH_x86)
	if (BPF_CORE_READ(t, thread_info.status) & TS_COMPAT_)
		return 0;
#endif
	regs = user_regs();
	if (!regs)
		return 0;
	return op_of(regs_syscall_nr(regs));
}

/* The state of the current thread's call op, made if there is none. */
static __always_inline struct inflight *reason_state(__u16 op)
{
	__u32 tid = cur_tid();
	struct inflight *st = bpf_map_lookup_elem(&inflights, &tid);
	struct inflight fresh = {};

	if (st && st->op == op)
		return st;
	/* None, or one left by a call whose exit was not seen: start over. */
	fresh.op = op;
	fresh.flags = INFLIGHT_COUNTED;
	if (!st || !(st->flags & INFLIGHT_COUNTED))
		__sync_fetch_and_add(&inflight_pending, 1);
	if (bpf_map_update_elem(&inflights, &tid, &fresh, BPF_ANY) < 0) {
		__sync_fetch_and_add(&inflight_pending, -1);
		return NULL;
	}
	return bpf_map_lookup_elem(&inflights, &tid);
}

/* For the reason programs: the state of the traced call the current task
 * is in (*op), made if there is none; NULL outside traced calls and in
 * ctrace's own process. */
static __always_inline struct inflight *call_state(__u16 *op)
{
	if (is_self())
		return NULL;
	*op = current_op();
	if (!*op)
		return NULL;
	return reason_state(*op);
}

/* Drops the current thread's state. */
static __always_inline void forget_state(void)
{
	__u32 tid = cur_tid();
	struct inflight *st = bpf_map_lookup_elem(&inflights, &tid);

	if (!st)
		return;
	if (st->flags & INFLIGHT_COUNTED)
		__sync_fetch_and_add(&inflight_pending, -1);
	bpf_map_delete_elem(&inflights, &tid);
}

/* Whether the exit may have state in inflights to consume: the test a
 * successful call pays. Tasks under a seccomp filter always do, unless
 * their entry marks are in entry_marks. */
static __always_inline bool may_have_state(bool seccomp)
{
	return (seccomp && !task_marks) || inflight_pending;
}

/* The current task's entry mark (task_marks only), made if create is set;
 * NULL if it cannot be had. */
static __always_inline __u32 *entry_mark(bool create)
{
	return bpf_task_storage_get(&entry_marks, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Drops what the current call left behind: its entry mark and its
 * in-flight state. */
static __always_inline void drop_call(bool seccomp)
{
	if (task_marks && seccomp) {
		__u32 *m = entry_mark(false);

		if (m)
			*m = 0;
	}
	if (may_have_state(seccomp))
		forget_state();
}

/* Whether the current call of a task under a seccomp filter passed its
 * entry tracepoint (so the filter let it through); st is its in-flight
 * state. Clears the mark. An entry that could not have its task's storage
 * (the kernel refuses to make it while another task's storage is being
 * changed on the CPU) left the mark in inflights instead. */
static __always_inline bool entered(struct inflight *st, __u16 op)
{
	__u32 *m;

	if (task_marks) {
		m = entry_mark(false);
		if (m && *m == op) {
			*m = 0;
			return true;
		}
		if (m)
			*m = 0;
	}
	return st && (st->flags & INFLIGHT_ENTERED);
}

/* Moves what the current call's state says into the record and drops the
 * state: capability denials as fields, the number of log lines sent, and
 * whether a seccomp filter rejected the call. */
static __noinline __u32 put_reasons(struct ctrace_buf *b, __u32 off, __u16 op, bool seccomp)
{
	__u32 tid = cur_tid();
	struct inflight *st = bpf_map_lookup_elem(&inflights, &tid);
	__u32 key = op, *opf;
	int i;

	if (st && st->op != op)
		st = NULL; /* stale: not about this call */
	if (seccomp && !entered(st, op)) {
		opf = bpf_map_lookup_elem(&op_flags, &key);
		if (opf && (*opf & OPF_ENTRY))
			b->ev.flags |= CTRACE_EV_SECCOMP;
	}
	if (st) {
		b->ev.nlogs = st->nlogs;
		for (i = 0; i < CTRACE_CAPS_MAX; i++) {
			if (i >= st->ncaps || !reserve(&off, sizeof(struct ctrace_cap)))
				break;
			__builtin_memcpy(field_data(b, off), &st->caps[i], sizeof(struct ctrace_cap));
			off = close_field(b, off, CTRACE_ARG_NONE, CTRACE_FIELD_CAP, 0,
					  sizeof(struct ctrace_cap));
		}
		for (i = 0; i < CTRACE_LSMS_MAX; i++) {
			if (i >= st->nlsms || !reserve(&off, sizeof(struct ctrace_lsm)))
				break;
			__builtin_memcpy(field_data(b, off), &st->lsms[i], sizeof(struct ctrace_lsm));
			off = close_field(b, off, CTRACE_ARG_NONE, CTRACE_FIELD_LSM, 0,
					  sizeof(struct ctrace_lsm));
		}
	}
	forget_state();
	return off;
}

/* Kernels before 6.15 name a kernfs node's parent "parent". */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* The task's cgroup v2 path, leaf first: what tells a container's processes
 * apart after they are gone (containerd names the leaf after the container). */
static __noinline __u32 put_cgroup(struct ctrace_buf *b, __u32 off)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	__u32 start, pos = 0;
	__u8 flags = 0;
	int i;

	if (!reserve(&off, CTRACE_CGROUP_DEPTH * CTRACE_NAME_MAX))
		return off;
	start = off + sizeof(struct ctrace_field);
	for (i = 0; i < CTRACE_CGROUP_DEPTH; i++) {
		struct kernfs_node *parent = kn_parent(kn);
		long n;

		if (!kn || !parent)
			break; /* the root's name is not part of the path */
		n = bpf_probe_read_kernel_str(&b->data[(start + pos) & (CTRACE_DATA_MAX - 1)],
					      CTRACE_NAME_MAX, BPF_CORE_READ(kn, name));
		if (n <= 0) {
			flags |= CTRACE_FIELD_FAULT;
			break;
		}
		pos += n & (CTRACE_NAME_MAX - 1);
		kn = parent;
	}
	if (i == CTRACE_CGROUP_DEPTH && kn && kn_parent(kn))
		flags |= CTRACE_FIELD_TRUNCATED;
	if (pos == 0 && !flags)
		return off; /* the root cgroup */
	return close_field(b, off, CTRACE_ARG_NONE, CTRACE_FIELD_CGROUP, flags,
			   pos & (2 * CTRACE_DATA_MAX - 1));
}

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

/* Who the task is beyond its pid: cgroup path (unless the reader has it),
 * and for runtime processes their command line (the shim's -id, runc's
 * --bundle). */
static __always_inline __u32 put_context(struct ctrace_buf *b, __u32 off)
{
	if (!bpf_map_lookup_elem(&cgroups_known, &b->ev.cgroup_id))
		off = put_cgroup(b, off);
	if (runtime_comm_is(b->ev.comm))
		off = put_mm_args(b, off, CTRACE_ARG_NONE, CTRACE_FIELD_CMDLINE, 0);
	return off;
}

/* Every exit program is exit_begin(), the reads of its arguments, and
 * exit_finish(). seccomp is may_refuse(), asked once per exit.
 *
 * exit_begin() returns the record to fill with the arguments, its header
 * and registers set; or NULL, having dropped the thread's in-flight state,
 * when there is none to make: the call succeeded (without --all: the
 * success path ends here), a filter drops it, runtime_only is set and the
 * caller is not a container runtime process, or there is no slot. */
static __always_inline struct ctrace_buf *exit_begin(struct task_struct *t, long ret, __u16 op,
						     bool seccomp, bool runtime_only)
{
	struct ctrace_buf *b = NULL;

	if (ret >= 0 && !trace_success) {
		/* The success path ends here. Written out, not through the
		 * drop below, so that it stays the straight line it was. */
		drop_call(seccomp);
		return NULL;
	}
	if (!wanted(t, ret) || (runtime_only && !runtime_comm(t)))
		goto drop;
	b = begin(t, ret, op);
	if (b)
		return b;
drop:
	drop_call(seccomp);
	return NULL;
}

/* Moves the reasons into the record (they only explain failures) and drops
 * the in-flight state, adds who the task is, and sends the record. */
static __always_inline void exit_finish(struct ctrace_buf *b, __u32 off, long ret, __u16 op,
					bool seccomp)
{
	if (ret < 0 && (seccomp || may_have_state(seccomp)))
		off = put_reasons(b, off, op, seccomp);
	else
		drop_call(seccomp);
	off = put_context(b, off);
	submit(b, off, op);
}

/* The exit of one traced syscall; kinds says what to read (ARGS()).
 * runtime_only calls are traced for container runtime processes only. */
static __always_inline int on_exit(long ret, __u32 nr, __u16 op, __u32 kinds, bool runtime_only)
{
	struct task_struct *t = cur_task();
	bool seccomp = may_refuse(t, nr);
	struct ctrace_buf *b = exit_begin(t, ret, op, seccomp, runtime_only);
	__u32 off = 0;

	if (!b)
		return 0;
#pragma unroll
	for (int i = 0; i < CTRACE_NARGS; i++)
		off = put_arg(b, off, i, ARG_KIND(kinds, i));
	exit_finish(b, off, ret, op, seccomp);
	return 0;
}

/* The entry of one traced syscall of a task under a seccomp filter that
 * may refuse it (the caller asks may_refuse(): entries only matter for
 * such calls): the mark it leaves tells the exit that the filter let the
 * call through. */
static __always_inline int on_enter(__u16 op)
{
	struct inflight *st, fresh = {};
	__u32 tid;

	if (task_marks) {
		__u32 *m = entry_mark(true);

		if (m) {
			*m = op;
			return 0;
		}
		/* No storage to be had: the mark goes to inflights, counted
		 * in inflight_pending, so that the exit looks there and a
		 * success drops it. */
	}
	/* Only here: a helper call is never moved past the branch above. */
	tid = cur_tid();
	st = bpf_map_lookup_elem(&inflights, &tid);
	if (st) {
		/* Left by a call whose exit was not seen. */
		if (task_marks && !(st->flags & INFLIGHT_COUNTED))
			__sync_fetch_and_add(&inflight_pending, 1);
		st->op = op;
		st->flags = INFLIGHT_ENTERED | (st->flags & INFLIGHT_COUNTED) |
			    (task_marks ? INFLIGHT_COUNTED : 0);
		st->nlogs = 0;
		st->ncaps = 0;
		st->nlsms = 0;
		return 0;
	}
	fresh.op = op;
	fresh.flags = INFLIGHT_ENTERED;
	if (task_marks) {
		fresh.flags |= INFLIGHT_COUNTED;
		__sync_fetch_and_add(&inflight_pending, 1);
	}
	if (bpf_map_update_elem(&inflights, &tid, &fresh, BPF_ANY) < 0 && task_marks)
		__sync_fetch_and_add(&inflight_pending, -1);
	return 0;
}

/* The two exit programs of a syscall; body is an expression of ret, the
 * call's return value. user space loads one of the two per syscall:
 *  - exit_<sys>: reached by tail call from the raw sys_exit dispatcher,
 *    with the raw tracepoint's context (args[1] is the return value);
 *  - tp_exit_<sys>: attached to the syscall's own syscalls:sys_exit_<sys>
 *    tracepoint, so that it runs for that syscall only and untraced
 *    syscalls run no program (see sys_exit for why that is preferred).
 * Arguments come from the task's saved registers either way (user_regs).
 * The program names are ctrace's; user space keys them by op. */
#define EXIT_PROGS(sys, body)                                                 \
	SEC("raw_tracepoint")                                                 \
	int exit_##sys(struct bpf_raw_tracepoint_args *ctx)                   \
	{                                                                     \
		long ret = ctx->args[1];                                      \
		__u32 nr = regs_syscall_nr((struct pt_regs *)ctx->args[0]);   \
		return body;                                                  \
	}                                                                     \
	SEC("tracepoint")                                                     \
	int tp_exit_##sys(struct syscall_trace_exit *ctx)                     \
	{                                                                     \
		long ret = ctx->ret;                                          \
		__u32 nr = ctx->nr;                                           \
		return body;                                                  \
	}
#define TRACE(sys, op, kinds, runtime_only) EXIT_PROGS(sys, on_exit(ret, nr, op, kinds, runtime_only))

/* ---- exit programs made from the table of syscalls -------------------- */

/* Every traced syscall but those below, as tracer/ops.go describes it
 * (ctrace_ops.h): each argument read as its kind says. Container runtime
 * set-up calls (stat, mkdir, ...) are traced for runc and containerd
 * processes only: a container that cannot start often fails in runc's stat
 * or mkdir of a path from its spec. */
CTRACE_EXITS(TRACE)

/* ---- mount family: fsconfig ------------------------------------------ */

/* fsconfig's value and aux change meaning with cmd (include/uapi/linux/mount.h). */
enum {
	FSCONFIG_SET_FLAG_ = 0,
	FSCONFIG_SET_STRING_ = 1,
	FSCONFIG_SET_BINARY_ = 2,
	FSCONFIG_SET_PATH_ = 3,
	FSCONFIG_SET_PATH_EMPTY_ = 4,
	FSCONFIG_SET_FD_ = 5,
};

/* fsconfig(fd, cmd, key, value, aux) */
static __always_inline int on_fsconfig_exit(long ret, __u32 nr)
{
	struct task_struct *t = cur_task();
	bool seccomp = may_refuse(t, nr);
	struct ctrace_buf *b = exit_begin(t, ret, CTRACE_OP_FSCONFIG, seccomp, false);
	__u32 off = 0, cmd;

	if (!b)
		return 0;
	cmd = b->ev.args[1];
	off = put_fd(b, off, 0, b->ev.args[0]);
	if (cmd <= FSCONFIG_SET_FD_)
		off = put_str(b, off, 2, (const char *)b->ev.args[2]);
	switch (cmd) {
	case FSCONFIG_SET_STRING_:
		off = put_str(b, off, 3, (const char *)b->ev.args[3]);
		break;
	case FSCONFIG_SET_BINARY_:
		off = put_struct(b, off, 3, (const void *)b->ev.args[3], b->ev.args[4]);
		break;
	case FSCONFIG_SET_PATH_:
	case FSCONFIG_SET_PATH_EMPTY_:
		off = put_str(b, off, 3, (const char *)b->ev.args[3]);
		off = put_fd(b, off, 4, b->ev.args[4]);
		break;
	case FSCONFIG_SET_FD_:
		off = put_fd(b, off, 4, b->ev.args[4]);
		break;
	}
	exit_finish(b, off, ret, CTRACE_OP_FSCONFIG, seccomp);
	return 0;
}

EXIT_PROGS(fsconfig, on_fsconfig_exit(ret, nr))

/* ---- exec family: execve, execveat ---------------------------------- */

/* After a successful execve the registers and memory are the new image's:
 * the path comes from mm->exe_file and argv from the new stack. */
static __always_inline int on_exec_exit(long ret, __u32 nr, __u16 op, __u32 kinds, int path_arg,
					int argv_arg)
{
	struct task_struct *t;
	struct ctrace_buf *b;
	bool seccomp;
	__u32 off = 0;

	if (ret < 0)
		return on_exit(ret, nr, op, kinds, false);
	t = cur_task();
	seccomp = may_refuse(t, nr);
	b = exit_begin(t, ret, op, seccomp, false);
	if (!b)
		return 0;
	__builtin_memset(b->ev.args, 0, sizeof(b->ev.args));
	if (!t)
		t = (void *)bpf_get_current_task();
	off = put_file(b, off, path_arg, BPF_CORE_READ(t, mm, exe_file), CTRACE_FIELD_AFTER);
	off = put_mm_args(b, off, argv_arg, CTRACE_FIELD_ARGV, CTRACE_FIELD_AFTER);
	exit_finish(b, off, ret, op, seccomp);
	return 0;
}

/* execve(path, argv, envp) */
EXIT_PROGS(execve, on_exec_exit(ret, nr, CTRACE_OP_EXECVE, CTRACE_ARGS_EXECVE, 0, 1))
/* execveat(dirfd, path, argv, envp, flags) */
EXIT_PROGS(execveat, on_exec_exit(ret, nr, CTRACE_OP_EXECVEAT, CTRACE_ARGS_EXECVEAT, 1, 2))

/* ---- reasons: capability denials and kernel log lines ---------------- */

/* Records a failed capability check made during a traced call, once per
 * capability and user namespace: one failing mount makes about fifteen. */
static __always_inline int on_cap_denied(const struct cred *cred, struct user_namespace *ns, int cap)
{
	struct user_namespace *caller;
	struct ctrace_cap *c;
	struct inflight *st;
	__u32 inum, n, nr;
	__u16 op;
	int i;

	st = call_state(&op);
	if (!st)
		return 0;
	inum = BPF_CORE_READ(ns, ns.inum);
	for (i = 0; i < CTRACE_CAPS_MAX; i++) {
		if (i >= st->ncaps)
			break;
		if (st->caps[i].cap == (__u32)cap && st->caps[i].userns == inum)
			return 0;
	}
	n = st->ncaps;
	if (n >= CTRACE_CAPS_MAX)
		return 0;
	c = &st->caps[n & (CTRACE_CAPS_MAX - 1)];
	c->cap = cap;
	c->userns = inum;
	c->userns_owner = BPF_CORE_READ(ns, owner.val);
	c->userns_level = BPF_CORE_READ(ns, level);
	caller = BPF_CORE_READ(cred, user_ns);
	c->caller_userns = BPF_CORE_READ(caller, ns.inum);
	nr = BPF_CORE_READ(caller, uid_map.nr_extents);
	c->nextents = nr;
	/* Up to five extents live in the map itself, more behind forward. */
	if (nr <= 5) {
		bpf_core_read(c->extents, sizeof(c->extents), &caller->uid_map.extent);
	} else {
		struct uid_gid_extent *fwd = BPF_CORE_READ(caller, uid_map.forward);

		bpf_probe_read_kernel(c->extents, sizeof(c->extents), fwd);
	}
	st->ncaps = n + 1;
	return 0;
}

/* tp_btf/cap_capable (6.16+): every capability check and its verdict;
 * records denials made during traced calls. */
SEC("tp_btf/cap_capable")
int BPF_PROG(cap_denied_tp, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	if (ret == 0)
		return 0;
	return on_cap_denied(cred, target_ns, cap);
}

/* fexit/cap_capable: the same, on kernels without the tracepoint that
 * allow fexit. */
SEC("fexit/cap_capable")
int BPF_PROG(cap_denied_fexit, const struct cred *cred, struct user_namespace *target_ns,
	     int cap, unsigned int opts, int ret)
{
	if (ret == 0)
		return 0;
	return on_cap_denied(cred, target_ns, cap);
}

/* tp_btf/console: a line the kernel logs, in the context of the task that
 * logs it; sends the lines logged during traced calls. The exit record
 * says how many belong to it (ctrace_event.nlogs). */
SEC("tp_btf/console")
int BPF_PROG(kernel_log, const char *text, size_t len)
{
	struct ctrace_log *lb;
	struct inflight *st;
	__u32 zero = 0, n;
	__u16 op;

	st = call_state(&op);
	lb = bpf_map_lookup_elem(&logbuf, &zero);
	if (!st || !lb)
		return 0;
	n = len;
	if (n > CTRACE_LOG_MAX)
		n = CTRACE_LOG_MAX;
	n &= 2 * CTRACE_LOG_MAX - 1;
	if (n > CTRACE_LOG_MAX)
		return 0;
	if (bpf_probe_read_kernel(lb->msg, n, text) < 0)
		return 0;
	lb->type = CTRACE_REC_LOG;
	lb->len = n;
	lb->tid = cur_tid();
	lb->ts_ns = bpf_ktime_get_boot_ns();
	if (bpf_ringbuf_output(&events, lb, offsetof(struct ctrace_log, msg) + n, 0) < 0) {
		count_lost(op);
		return 0;
	}
	st->nlogs++;
	return 0;
}

/* ---- reasons: LSM hook denials ------------------------------------- */

/* Records a security_* hook that refused a traced call in flight. */
static __always_inline int on_lsm_denied(__u32 hook, int ret)
{
	struct inflight *st;
	__u16 op, n;

	if (ret == 0)
		return 0;
	st = call_state(&op);
	if (!st)
		return 0;
	n = st->nlsms;
	if (n >= CTRACE_LSMS_MAX)
		return 0;
	st->lsms[n & (CTRACE_LSMS_MAX - 1)].hook = hook;
	st->lsms[n & (CTRACE_LSMS_MAX - 1)].ret = ret;
	st->nlsms = n + 1;
	return 0;
}

/* fexit/security_sb_mount: the LSMs' verdict on mount(2). */
SEC("fexit/security_sb_mount")
int BPF_PROG(lsm_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	return on_lsm_denied(CTRACE_LSM_SB_MOUNT, ret);
}

/* fexit/security_sb_umount: on umount2(2). */
SEC("fexit/security_sb_umount")
int BPF_PROG(lsm_sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	return on_lsm_denied(CTRACE_LSM_SB_UMOUNT, ret);
}

/* fexit/security_move_mount: on move_mount(2). */
SEC("fexit/security_move_mount")
int BPF_PROG(lsm_move_mount, const struct path *from, const struct path *to, int ret)
{
	return on_lsm_denied(CTRACE_LSM_MOVE_MOUNT, ret);
}

/* fexit/security_sb_pivotroot: on pivot_root(2). */
SEC("fexit/security_sb_pivotroot")
int BPF_PROG(lsm_sb_pivotroot, const struct path *old_path, const struct path *new_path, int ret)
{
	return on_lsm_denied(CTRACE_LSM_SB_PIVOTROOT, ret);
}

/* fexit/security_file_open: on every open of the traced calls. */
SEC("fexit/security_file_open")
int BPF_PROG(lsm_file_open, struct file *file, int ret)
{
	return on_lsm_denied(CTRACE_LSM_FILE_OPEN, ret);
}

/* fexit/security_bprm_check: on execve(2) and execveat(2). */
SEC("fexit/security_bprm_check")
int BPF_PROG(lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	return on_lsm_denied(CTRACE_LSM_BPRM_CHECK, ret);
}

/* ---- dispatch ------------------------------------------------------- */

/* The exit program of each traced op, filled by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CTRACE_OP_MAX);
	__type(key, __u32);
	__type(value, __u32);
} exits SEC(".maps");

/* raw_tracepoint/sys_exit: every syscall's exit. Hands the traced ones to
 * their exit program; for a success, unless --all is set, that is only
 * needed to drop in-flight state.
 * This dispatcher and sys_enter are the fallback, for kernels without
 * tracefs to find the syscalls:* events by (a container without it
 * mounted): a raw tracepoint program runs for every syscall of every task,
 * and measured on a 1 us getppid that cost +28% with empty programs,
 * against +4% for the per-syscall tracepoints (docs/BENCHMARKS.md). */
SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long ret = ctx->args[1];
	__u32 nr = regs_syscall_nr(regs);
	__u16 op;

	op = op_of(nr);
	if (!op)
		return 0;
	if (ret >= 0 && !trace_success) {
		/* The success path ends here. */
		drop_call(may_refuse(cur_task(), nr));
		return 0;
	}
	if (!current_op())
		return 0; /* a 32-bit call: other numbers */
	bpf_tail_call(ctx, &exits, op);
	return 0;
}

/* raw_tracepoint/sys_enter: every syscall's entry. Marks the traced calls
 * of tasks under a seccomp filter as having passed the filter. */
SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	/* Most syscalls are not traced: the lookup comes first here. */
	__u16 op = op_of(ctx->args[1]);

	if (!op || !may_refuse(cur_task(), ctx->args[1]))
		return 0;
	return on_enter(op);
}

/* tracepoint syscalls:sys_enter_<sys>, attached to the entry of every
 * traced syscall: the same mark as sys_enter, run for traced calls only.
 * A call that seccomp refuses never reaches either. */
SEC("tracepoint")
int tp_sys_enter(struct syscall_trace_enter *ctx)
{
	/* The number is an int here, followed by padding the kernel does
	 * not clear: raw_syscalls:sys_enter's record (whose long id this
	 * once read) differs, and on 6.18 most reads of it were garbage.
	 * Read before the helper call: the compiler may otherwise keep a
	 * moved context pointer across it, which the verifier refuses. */
	__u32 nr = ctx->nr;
	__u16 op;

	/* Only traced syscalls reach this program, and most tasks of a node
	 * are under no filter: they stop here, before the op lookup that
	 * only a mark needs; and most container processes' filters let the
	 * call through whatever its arguments. */
	if (!may_refuse(cur_task(), nr))
		return 0;
	op = op_of(nr);
	if (!op)
		return 0;
	return on_enter(op);
}

/* ---- following a command's descendants ------------------------------- */

/* tp_btf/sched_process_fork: a child of a traced process is traced too. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u8 one = 1;

	if (bpf_map_lookup_elem(&tgids, &ptgid))
		bpf_map_update_elem(&tgids, &ctgid, &one, BPF_ANY);
	return 0;
}

/* tp_btf/sched_process_exit: forget a traced process once all its threads
 * are gone, so that the map does not fill up with dead processes. Not when
 * only its leader exits: a thread that execs takes the leader's place, and
 * the process goes on. The tracepoint runs after do_exit() counted the
 * thread out of signal->live. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (BPF_CORE_READ(task, signal, live.counter) == 0)
		bpf_map_delete_elem(&tgids, &tgid);
	return 0;
}
