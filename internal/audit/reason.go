package audit

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ctrace-dev/ctrace/tracer"
)

// The LSM names a Reason carries, as /sys/kernel/security/lsm spells them.
const (
	LSMLandlock = "landlock"
	LSMAppArmor = "apparmor"
	LSMSELinux  = "selinux"
)

// denial reads one LSM denial from a record. ok is false for records that
// are not denials that made a call fail: other types, AppArmor's
// ALLOWED/AUDIT (complain mode, audit rules), SELinux grants and
// permissive-mode denials.
func denial(r *Record) (*tracer.LSMReason, bool) {
	switch r.Type {
	case TypeLandlockAccess:
		return landlockReason(r)
	case TypeAVC:
		if _, ok := r.Get("apparmor"); ok {
			return apparmorReason(r)
		}
		return selinuxReason(r)
	}
	return nil, false
}

// mergeLSM adds the LSM reasons read from audit records to an event's
// reasons. Where the kernel side already recorded the refusing hook
// (fexit on security_*), it could only name the candidate LSMs ("landlock|
// apparmor|bpf"); the audit record names the one that refused, so the two
// become one reason: the LSM and its words from the record, the hook's
// return value kept in the detail. Other reasons are appended.
func mergeLSM(have []tracer.Reason, found []*tracer.LSMReason) []tracer.Reason {
	fromHooks := len(have)
	merged := make([]bool, fromHooks)
	for _, f := range found {
		r := *f // the matcher's own stays as the record said
		i := -1
		for j, h := range have[:fromHooks] {
			if l, ok := h.(*tracer.LSMReason); ok && !merged[j] && slices.Contains(strings.Split(l.LSM, "|"), r.LSM) {
				i = j
				break
			}
		}
		if i < 0 {
			have = append(have, &r)
			continue
		}
		if d := have[i].(*tracer.LSMReason).Detail; d != "" {
			if r.Detail != "" {
				r.Detail += "; "
			}
			r.Detail += d
		}
		have[i], merged[i] = &r, true
	}
	return have
}

// landlockReason: "domain=10b8f7b05 blockers=fs.read_file path="/etc/hostname"
// dev="vda1" ino=1234". blockers names the denied accesses, comma-separated.
func landlockReason(r *Record) (*tracer.LSMReason, bool) {
	blockers, ok := r.Get("blockers")
	if !ok {
		return nil, false
	}
	return &tracer.LSMReason{
		LSM:    LSMLandlock,
		Hook:   blockers,
		Detail: detail(r, "blockers", "path", "dev", "ino", "domain", "opid", "ocomm", "daddr", "dest"),
	}, true
}

// apparmorReason: apparmor="DENIED" operation="mount" class="mount"
// info="failed flags match" error=-13 profile="p" name="/proc/" ...
func apparmorReason(r *Record) (*tracer.LSMReason, bool) {
	if r.get("apparmor") != "DENIED" {
		return nil, false
	}
	return &tracer.LSMReason{
		LSM:  LSMAppArmor,
		Hook: r.get("operation"),
		Detail: detail(r, "profile", "operation", "class", "info", "name", "srcname",
			"fstype", "flags", "requested_mask", "denied_mask", "requested", "denied",
			"target", "peer", "capname", "error"),
	}, true
}

// selinuxReason: avc:  denied  { mount } for  pid=1 comm="mount" name="/"
// dev="tmpfs" ino=1 scontext=... tcontext=... tclass=filesystem permissive=0
func selinuxReason(r *Record) (*tracer.LSMReason, bool) {
	perms, denied := selinuxPerms(r.Words)
	if !denied || r.get("permissive") == "1" {
		return nil, false
	}
	hook := strings.Join(perms, ",")
	d := "denied { " + strings.Join(perms, " ") + " }"
	if rest := detail(r, "scontext", "tcontext", "tclass", "path", "name", "dev", "ino", "capability"); rest != "" {
		d += " " + rest
	}
	return &tracer.LSMReason{LSM: LSMSELinux, Hook: hook, Detail: d}, true
}

// selinuxPerms reads "avc: denied { read write } for" from the words.
func selinuxPerms(words []string) (perms []string, denied bool) {
	in := false
	for _, w := range words {
		switch {
		case w == "denied":
			denied = true
		case w == "{":
			in = true
		case w == "}":
			in = false
		case in:
			perms = append(perms, w)
		}
	}
	return perms, denied && len(perms) > 0
}

// detail renders the named fields that the record has, in the order
// given, as key=value with strings quoted.
func detail(r *Record, keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		v, ok := r.Get(k)
		if !ok || v == "" || v == "?" || v == "(null)" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if needsQuote(v) {
			b.WriteString(strconv.Quote(v))
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}

// needsQuote tells values that read as text from numbers and names.
func needsQuote(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == ',' || c == ':') {
			return true
		}
	}
	return false
}
