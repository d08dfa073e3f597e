package main

import (
	"slices"
	"testing"
)

func TestSysmonEnv(t *testing.T) {
	for _, c := range []struct {
		name      string
		args, env []string
		want      []string
	}{
		{"another command", []string{"bench", "ws"}, []string{"HOME=/h"}, nil},
		{"no arguments", nil, []string{"HOME=/h"}, nil},
		{"serve", []string{"serve", "--feed", "none"}, []string{"HOME=/h"}, []string{"HOME=/h", "GODEBUG=" + sysmonSetting}},
		{"serve keeps other settings", []string{"serve"}, []string{"GODEBUG=madvdontneed=1", "A=b"}, []string{"GODEBUG=madvdontneed=1," + sysmonSetting, "A=b"}},
		{"empty GODEBUG", []string{"serve"}, []string{"GODEBUG="}, []string{"GODEBUG=" + sysmonSetting}},
		{"the operator's schedtrace", []string{"serve"}, []string{"GODEBUG=gctrace=1,schedtrace=0"}, nil},
		{"already restarted", []string{"serve"}, []string{"GODEBUG=" + sysmonSetting}, nil},
		{"a repeated GODEBUG", []string{"serve"}, []string{"GODEBUG=a=1", "GODEBUG=b=2"}, []string{"GODEBUG=a=1," + sysmonSetting}},
	} {
		if got := sysmonEnv(c.args, c.env); !slices.Equal(got, c.want) {
			t.Errorf("%s: sysmonEnv(%q, %q) = %q, want %q", c.name, c.args, c.env, got, c.want)
		}
	}
}
