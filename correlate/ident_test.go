package correlate

import (
	"reflect"
	"testing"
)

func TestFromCgroup(t *testing.T) {
	const id = "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
	for _, tt := range []struct {
		path string
		want ident
		ok   bool
	}{
		{"/default/test1", ident{Namespace: "default", ID: "test1", Source: SourceCgroup}, true},
		{"/k8s.io/" + id, ident{Namespace: "k8s.io", ID: id, Source: SourceCgroup}, true},
		{"/default/test1/sub", ident{Namespace: "default", ID: "test1", Source: SourceCgroup}, true},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_0000_1111_2222_333344445555.slice/cri-containerd-" + id + ".scope",
			ident{Namespace: "k8s.io", ID: id, PodUID: "1a2b3c4d-0000-1111-2222-333344445555", Source: SourceCgroup}, true},
		{"/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555/" + id,
			ident{Namespace: "k8s.io", ID: id, PodUID: "1a2b3c4d-0000-1111-2222-333344445555", Source: SourceCgroup}, true},
		{"/kubepods/pod1a2b3c4d-0000-1111-2222-333344445555/" + id,
			ident{Namespace: "k8s.io", ID: id, PodUID: "1a2b3c4d-0000-1111-2222-333344445555", Source: SourceCgroup}, true},
		{"/kubepods/burstable/pod1a2b3c4d-0000-1111-2222-333344445555", ident{}, false},
		{"/kubepods.slice/kubepods-besteffort.slice", ident{}, false},
		{"/system.slice/containerd.service", ident{}, false},
		{"/user.slice/user-1000.slice/session-2.scope", ident{}, false},
		{"/init.scope", ident{}, false},
		{"/", ident{}, false},
		{"", ident{}, false},
		{"/single", ident{}, false},
	} {
		got, ok := fromCgroup(tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("fromCgroup(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFromCmdline(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		want ident
		ok   bool
	}{
		// As containerd 1.6 starts the runc v2 shim, and as it runs.
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "default", "-address", "/run/containerd/containerd.sock", "-publish-binary", "/usr/bin/containerd", "-id", "test1", "start"},
			ident{Namespace: "default", ID: "test1", Source: SourceCmdline}, true},
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc", "-address", "/run/containerd/containerd.sock"},
			ident{Namespace: "k8s.io", ID: "abc", Source: SourceCmdline}, true},
		// As the shim runs runc.
		{[]string{"runc", "--root", "/run/containerd/runc/default", "--log", "/run/containerd/io.containerd.runtime.v2.task/default/test1/log.json", "--log-format", "json",
			"create", "--bundle", "/run/containerd/io.containerd.runtime.v2.task/default/test1", "--pid-file", "/run/containerd/io.containerd.runtime.v2.task/default/test1/init.pid", "test1"},
			ident{Namespace: "default", ID: "test1", Source: SourceCmdline}, true},
		{[]string{"runc", "--root", "/run/containerd/runc/k8s.io", "--log", "/x/log.json", "--log-format", "json", "--systemd-cgroup", "start", "c2"},
			ident{Namespace: "k8s.io", ID: "c2", Source: SourceCmdline}, true},
		{[]string{"runc", "--root=/run/containerd/runc/default", "kill", "c3", "9"},
			ident{Namespace: "default", ID: "c3", Source: SourceCmdline}, true},
		{[]string{"runc", "--root", "/run/containerd/runc/default", "delete", "--force", "c4"},
			ident{Namespace: "default", ID: "c4", Source: SourceCmdline}, true},
		{[]string{"runc", "init"}, ident{}, false},
		{[]string{"/usr/bin/containerd", "--config", "/etc/containerd/config.toml"}, ident{}, false},
		{[]string{"mount", "-t", "tmpfs", "none", "/mnt"}, ident{}, false},
		{nil, ident{}, false},
	} {
		got, ok := fromCmdline(tt.argv)
		if ok != tt.ok || got != tt.want {
			t.Errorf("fromCmdline(%q) = %+v, %v; want %+v, %v", tt.argv, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFilter(t *testing.T) {
	a := &Container{ID: "abcdef0123", Namespace: "default"}
	k := &Container{ID: "0123456789", Namespace: "k8s.io", Pod: "web-1", PodNamespace: "shop", PodUID: "u-1", ContainerName: "nginx"}
	for _, tt := range []struct {
		f    Filter
		c    *Container
		want bool
	}{
		{Filter{}, nil, true},
		{Filter{}, a, true},
		{Filter{Host: true}, nil, true},
		{Filter{Host: true}, a, false},
		{Filter{Containers: []string{"abcdef0123"}}, a, true},
		{Filter{Containers: []string{"abc"}}, a, true},
		{Filter{Containers: []string{"ab"}}, a, false},
		{Filter{Containers: []string{"nginx"}}, k, true},
		{Filter{Containers: []string{"nginx"}}, a, false},
		{Filter{Containers: []string{"nginx"}}, nil, false},
		{Filter{Namespaces: []string{"k8s.io"}}, k, true},
		{Filter{Namespaces: []string{"k8s.io"}}, a, false},
		{Filter{Pods: []string{"web-1"}}, k, true},
		{Filter{Pods: []string{"u-1"}}, k, true},
		{Filter{PodNamespaces: []string{"shop"}, Containers: []string{"nginx"}}, k, true},
		{Filter{PodNamespaces: []string{"other"}, Containers: []string{"nginx"}}, k, false},
	} {
		if got := tt.f.Match(tt.c); got != tt.want {
			t.Errorf("%+v.Match(%+v) = %v, want %v", tt.f, tt.c, got, tt.want)
		}
	}
	if err := (&Filter{Host: true, Pods: []string{"x"}}).Validate(); err == nil {
		t.Error("--host with --pod validated")
	}
	amb := Ambiguous("abc", []*Container{{ID: "abc1", Namespace: "default"}, {ID: "abc2", Namespace: "default"}, {ID: "xyz"}})
	if !reflect.DeepEqual(amb, []string{"default/abc1", "default/abc2"}) {
		t.Errorf("Ambiguous = %v", amb)
	}
}

func TestContainerString(t *testing.T) {
	id := "3f4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
	for _, tt := range []struct {
		c    *Container
		want string
	}{
		{&Container{ID: "test1", Namespace: "default"}, "default/test1"},
		{&Container{ID: id, Namespace: "k8s.io"}, "k8s.io/3f4e5a6b7c8d"},
		{&Container{ID: id, Namespace: "k8s.io", Pod: "web-7d9f", PodNamespace: "shop", ContainerName: "nginx"}, "shop/web-7d9f/nginx"},
		{nil, ""},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
