/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Building a record (ctrace.h) and sending it: the per-CPU slot in scratch
 * and its header (begin), fields appended at offsets masked to the slot so
 * that the verifier can bound every write (reserve, close_field), the
 * readers of user memory (strings, structs, argv), and the copy into the
 * ring buffer (submit), which counts what is lost and wakes the reader.
 * Only failing calls get here.
 */
#ifndef CTRACE_RECORD_H
#define CTRACE_RECORD_H

#include "task.h"

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
	/* Aggregation hashes the fields by the word (aggregate.h): the
	 * padding of the last word must not hold an earlier record's
	 * bytes. */
	if (aggregate && (len & 7)) {
		__u64 *w = (__u64 *)&b->data[(off + sizeof(*f) + (len & ~7)) & (CTRACE_DATA_MAX - 1)];

		*w &= (1ULL << ((len & 7) * 8)) - 1;
	}
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

static __always_inline struct ctrace_buf *begin(struct task_struct *t, long ret, __u16 op)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct ctrace_buf *b = bpf_map_lookup_elem(&scratch, &cpu);

	if (!b) {
		count_lost(op);
		return NULL;
	}
	b->ev.type = CTRACE_REC_EVENT;
	/* With aggregate, once the failure was found not to be a repeat
	 * (exit_finish): a repeat keeps only a coarse time (aggregate.h). */
	if (!aggregate)
		b->ev.ts_ns = bpf_ktime_get_boot_ns();
	b->ev.ret = ret;
	b->ev.op = op;
	b->ev.flags = 0;
	b->ev.nfields = 0;
	b->ev.nlogs = 0;
	b->ev.agg_hash = 0;
	b->ev.agg_epoch = 0;
	/* With aggregate, after the failure was found not to be a repeat
	 * (exit_finish): a repeat is counted, and needs none of it. */
	if (!aggregate)
		fill_proc(t, &b->ev);
	if (!read_args(t, b->ev.args)) {
		__builtin_memset(b->ev.args, 0, sizeof(b->ev.args));
		b->ev.flags |= CTRACE_EV_NO_ARGS;
	}
	return b;
}

#endif /* CTRACE_RECORD_H */
