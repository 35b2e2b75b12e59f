/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The current task: who it is (ids, namespaces, comm), the user registers
 * it saved on entry and the syscall's arguments in them, its seccomp
 * filters, and the traced call it is in. Each read has two ways, a plain
 * load through the task's BTF pointer and a probe read for kernels that
 * lack one; here the choice between them is made once for every program.
 */
#ifndef CTRACE_TASK_H
#define CTRACE_TASK_H

#include "maps.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

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

#endif /* CTRACE_TASK_H */
