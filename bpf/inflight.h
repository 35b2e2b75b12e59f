/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Why a call failed, learnt while it is in flight: per-thread state
 * (struct inflight in inflights, the entry marks in entry_marks) that the
 * reason programs and the entry programs make, that a failing exit moves
 * into its record (put_reasons), and that every traced exit drops
 * (drop_call). What the success path pays for it is may_have_state().
 */
#ifndef CTRACE_INFLIGHT_H
#define CTRACE_INFLIGHT_H

#include "record.h"

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

#endif /* CTRACE_INFLIGHT_H */
