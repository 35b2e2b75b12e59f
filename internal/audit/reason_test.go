package audit

import (
	"reflect"
	"testing"

	"github.com/ctrace-dev/ctrace/tracer"
)

func TestMergeLSM(t *testing.T) {
	hook := &tracer.LSMReason{Hook: "sb_mount", LSM: "landlock|apparmor|bpf", Detail: "security_sb_mount returned -EACCES"}
	aa := &tracer.LSMReason{Hook: "mount", LSM: LSMAppArmor, Detail: `profile=p operation=mount`}
	capr := &tracer.CapabilityReason{Cap: "CAP_SYS_ADMIN"}
	sel := &tracer.LSMReason{Hook: "mount", LSM: LSMSELinux, Detail: "denied { mount }"}
	tests := []struct {
		name  string
		have  []tracer.Reason
		found []*tracer.LSMReason
		want  []tracer.Reason
	}{
		{
			name:  "no reasons from the kernel side",
			found: []*tracer.LSMReason{aa},
			want:  []tracer.Reason{aa},
		},
		{
			name:  "the audit record names one of the hook's candidates",
			have:  []tracer.Reason{capr, hook},
			found: []*tracer.LSMReason{aa},
			want: []tracer.Reason{capr, &tracer.LSMReason{Hook: "mount", LSM: LSMAppArmor,
				Detail: "profile=p operation=mount; security_sb_mount returned -EACCES"}},
		},
		{
			name:  "an LSM that is not a candidate is added beside the hook",
			have:  []tracer.Reason{hook},
			found: []*tracer.LSMReason{sel},
			want:  []tracer.Reason{hook, sel},
		},
		{
			name:  "a second denial of the same LSM does not replace the first",
			have:  []tracer.Reason{hook},
			found: []*tracer.LSMReason{aa, aa},
			want: []tracer.Reason{&tracer.LSMReason{Hook: "mount", LSM: LSMAppArmor,
				Detail: "profile=p operation=mount; security_sb_mount returned -EACCES"}, aa},
		},
		{
			name:  "a hook that named its LSM already",
			have:  []tracer.Reason{&tracer.LSMReason{Hook: "sb_mount", LSM: LSMAppArmor}},
			found: []*tracer.LSMReason{aa},
			want:  []tracer.Reason{aa},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeLSM(append([]tracer.Reason(nil), tt.have...), tt.found)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeLSM(%+v, %+v)\n got %+v\nwant %+v", tt.have, tt.found, got, tt.want)
			}
		})
	}
}
