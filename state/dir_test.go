package state

import "testing"

func TestDefaultDir(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		euid int
		want string
	}{
		{name: "systemd StateDirectory", env: map[string]string{"STATE_DIRECTORY": "/var/lib/daned:/var/lib/other", "HOME": "/root"}, euid: 0, want: "/var/lib/daned"},
		{name: "root", env: map[string]string{"HOME": "/root", "XDG_STATE_HOME": "/root/.state"}, euid: 0, want: "/var/lib/daned"},
		{name: "user with XDG_STATE_HOME", env: map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/home/u/st"}, euid: 1000, want: "/home/u/st/daned"},
		{name: "relative XDG_STATE_HOME is ignored", env: map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "st"}, euid: 1000, want: "/home/u/.local/state/daned"},
		{name: "user without XDG", env: map[string]string{"HOME": "/home/u"}, euid: 1000, want: "/home/u/.local/state/daned"},
		{name: "no home at all", env: map[string]string{}, euid: 1000, want: "var"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultDir(func(k string) string { return tt.env[k] }, tt.euid); got != tt.want {
				t.Errorf("defaultDir = %q, want %q", got, tt.want)
			}
		})
	}
	if DefaultDir() == "" {
		t.Error("DefaultDir is empty")
	}
}
