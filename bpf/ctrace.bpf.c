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
 *
 * The helpers live in headers, each included once into this one object:
 * maps.h (knobs and maps), task.h (the current task), record.h (building
 * and sending records), path.h (file and cgroup paths), inflight.h (state
 * of a call in flight), aggregate.h (failures counted instead of sent). This file holds the exit path and the programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "ctrace.h"
#include "maps.h"
#include "task.h"
#include "record.h"
#include "path.h"
#include "inflight.h"
#include "aggregate.h"

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

/* ---- the exit path ----------------------------------------------------- */

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

/* An exit between exit_begin() and exit_finish(): what the one asked, for
 * the other. */
struct exit_call {
	struct task_struct *t; /* cur_task(): NULL before 5.11 */
	long ret;
	__u16 op;
	bool seccomp; /* may_refuse(), asked once per exit */
};

/* Every exit program is exit_begin(), the reads of its arguments, and
 * exit_finish(); nr is the syscall's number.
 *
 * exit_begin() returns the record to fill with the arguments, its header
 * and registers set; or NULL, having dropped the thread's in-flight state,
 * when there is none to make: the call succeeded (without --all: the
 * success path ends here), a filter drops it, runtime_only is set and the
 * caller is not a container runtime process, or there is no slot. */
static __always_inline struct ctrace_buf *exit_begin(struct exit_call *c, long ret, __u32 nr,
						     __u16 op, bool runtime_only)
{
	struct task_struct *t = cur_task();
	struct ctrace_buf *b = NULL;

	c->t = t;
	c->ret = ret;
	c->op = op;
	c->seccomp = may_refuse(t, nr);
	if (ret >= 0 && !trace_success) {
		/* The success path ends here. Written out, not through the
		 * drop below, so that it stays the straight line it was. */
		drop_call(c->seccomp);
		return NULL;
	}
	if (!wanted(t, ret) || (runtime_only && !runtime_comm(t)))
		goto drop;
	b = begin(t, ret, op);
	if (b)
		return b;
drop:
	drop_call(c->seccomp);
	return NULL;
}

/* Moves the reasons into the record (they only explain failures) and drops
 * the in-flight state, adds who the task is, and sends the record; off is
 * where the arguments' fields end. The exit program's return value. */
static __always_inline int exit_finish(struct exit_call *c, struct ctrace_buf *b, __u32 off)
{
	if (c->ret < 0 && (c->seccomp || may_have_state(c->seccomp)))
		off = put_reasons(b, off, c->op, c->seccomp);
	else
		drop_call(c->seccomp);
	/* After the reasons, which are part of what makes two failures
	 * identical; before who the task is, which the key holds. */
	if (aggregate) {
		if (c->ret < 0 && counted(b, off, c->t))
			return 0;
		b->ev.ts_ns = bpf_ktime_get_boot_ns();
		fill_proc(c->t, &b->ev);
	}
	off = put_context(b, off);
	submit(b, off, c->op);
	return 0;
}

/* The exit of one traced syscall; kinds says what to read (ARGS()).
 * runtime_only calls are traced for container runtime processes only. */
static __always_inline int on_exit(long ret, __u32 nr, __u16 op, __u32 kinds, bool runtime_only)
{
	struct exit_call c;
	struct ctrace_buf *b = exit_begin(&c, ret, nr, op, runtime_only);
	__u32 off = 0;

	if (!b)
		return 0;
#pragma unroll
	for (int i = 0; i < CTRACE_NARGS; i++)
		off = put_arg(b, off, i, ARG_KIND(kinds, i));
	return exit_finish(&c, b, off);
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
	struct exit_call c;
	struct ctrace_buf *b = exit_begin(&c, ret, nr, CTRACE_OP_FSCONFIG, false);
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
	return exit_finish(&c, b, off);
}

EXIT_PROGS(fsconfig, on_fsconfig_exit(ret, nr))

/* ---- exec family: execve, execveat ---------------------------------- */

/* After a successful execve the registers and memory are the new image's:
 * the path comes from mm->exe_file and argv from the new stack. */
static __always_inline int on_exec_exit(long ret, __u32 nr, __u16 op, __u32 kinds, int path_arg,
					int argv_arg)
{
	struct task_struct *t;
	struct exit_call c;
	struct ctrace_buf *b;
	__u32 off = 0;

	if (ret < 0)
		return on_exit(ret, nr, op, kinds, false);
	b = exit_begin(&c, ret, nr, op, false);
	if (!b)
		return 0;
	__builtin_memset(b->ev.args, 0, sizeof(b->ev.args));
	t = c.t;
	if (!t)
		t = (void *)bpf_get_current_task();
	off = put_file(b, off, path_arg, BPF_CORE_READ(t, mm, exe_file), CTRACE_FIELD_AFTER);
	off = put_mm_args(b, off, argv_arg, CTRACE_FIELD_ARGV, CTRACE_FIELD_AFTER);
	return exit_finish(&c, b, off);
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

/* cap_capable's opts: the kernel asks without meaning to deny (security.h). */
#define CTRACE_CAP_OPT_NOAUDIT (1 << 1)
#define CTRACE_CAP_SYS_ADMIN 21
#define CTRACE_PROBE_FRAMES 6

/* Whether the check being made is memory accounting's: the vm_enough_memory
 * hook (cap_vm_enough_memory), called from security_vm_enough_memory_mm,
 * whose code the loader finds in kallsyms. It asks for CAP_SYS_ADMIN on
 * every exec and fork of a task without it, and the answer only moves an
 * overcommit reserve. The tracepoint does not carry cap_capable's opts, so
 * the asker is told by the return addresses on the stack (the hook may
 * tail-call cap_capable and leave no frame of its own); only denials
 * during traced calls get here. */
static __always_inline bool memory_probe(void *ctx)
{
	__u64 ips[CTRACE_PROBE_FRAMES];
	long n;
	int i;

	if (!vm_acct_start)
		return false;
	n = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	for (i = 0; i < CTRACE_PROBE_FRAMES; i++) {
		if (i * (long)sizeof(__u64) >= n)
			break;
		if (ips[i] >= vm_acct_start && ips[i] < vm_acct_end)
			return true;
	}
	return false;
}

/* tp_btf/cap_capable (6.16+): every capability check and its verdict;
 * records denials made during traced calls, but not memory accounting's
 * question (memory_probe). */
SEC("tp_btf/cap_capable")
int BPF_PROG(cap_denied_tp, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	__u16 op;

	if (ret == 0)
		return 0;
	if (cap == CTRACE_CAP_SYS_ADMIN && call_state(&op) && memory_probe(ctx))
		return 0;
	return on_cap_denied(cred, target_ns, cap);
}

/* fexit/cap_capable: the same, on kernels without the tracepoint that
 * allow fexit. A check made with CAP_OPT_NOAUDIT is a question whose "no"
 * the kernel takes in its stride (memory accounting's, ptrace's probes),
 * not a denial: it is not recorded. */
SEC("fexit/cap_capable")
int BPF_PROG(cap_denied_fexit, const struct cred *cred, struct user_namespace *target_ns,
	     int cap, unsigned int opts, int ret)
{
	if (ret == 0 || (opts & CTRACE_CAP_OPT_NOAUDIT))
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
