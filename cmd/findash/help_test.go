package main

import (
	"bytes"
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/findash/findash/internal/config"
)

var (
	// A sentence starts with a capitalised word ("Real-time" included).
	sentenceStart = regexp.MustCompile(`^[A-Z][a-z]+(-[a-z]+)*[ ,:]`)
	// A lone capital letter is a placeholder that lost its flag ("C
	// keep-alive users", "Hold N clients").
	placeholder = regexp.MustCompile(`(^|[\s(])[A-Z]([\s),.]|$)`)
	flagLine    = regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9-]+)(?:\s|$)`)
)

// helpCommands returns the path of every visible command, the tree's root
// (path nil) included, with cobra's help and completion commands.
func helpCommands(t *testing.T) map[string]*cobra.Command {
	t.Helper()
	root := newRoot(nil, nil, &bytes.Buffer{}, &bytes.Buffer{})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cmds := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		cmds[strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), "findash"))] = c
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return cmds
}

// TestHelp renders every command's --help through run and checks it reads
// well: the first line is a sentence, no line holds a stray character, and
// each command lists only its own flags (serve's settings only on serve, the
// store's on migrate and user).
func TestHelp(t *testing.T) {
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	config.Flags(all)
	serveFlags := map[string]bool{}
	all.VisitAll(func(f *pflag.Flag) { serveFlags[f.Name] = true })
	store := pflag.NewFlagSet("store", pflag.ContinueOnError)
	config.StoreFlags(store)
	storeFlags := map[string]bool{}
	store.VisitAll(func(f *pflag.Flag) { storeFlags[f.Name] = true })

	cmds := helpCommands(t)
	for _, want := range []string{"", "serve", "migrate", "user", "user create", "user key", "replay", "version", "bench", "bench ws", "bench api", "bench ingest", "symbol", "symbol add", "symbol list", "symbol remove"} {
		if cmds[want] == nil {
			t.Errorf("command %q missing from the tree", want)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(cmds)) {
		cmd := cmds[path]
		t.Run(strings.ReplaceAll(path, " ", "_"), func(t *testing.T) {
			args := append(strings.Fields(path), "--help")
			var out, errb bytes.Buffer
			if err := run(context.Background(), args, nil, nil, &out, &errb); err != nil {
				t.Fatalf("run(%q) = %v\n%s", args, err, errb.String())
			}
			help := out.String()
			if errb.Len() != 0 {
				t.Errorf("help wrote to stderr: %q", errb.String())
			}
			defer func() {
				if t.Failed() {
					t.Logf("findash %s --help:\n%s", path, help)
				}
			}()

			first, _, _ := strings.Cut(help, "\n")
			checkSentence(t, "first line", first)
			checkSentence(t, "short description", cmd.Short)
			for i, line := range strings.Split(help, "\n") {
				checkLine(t, i+1, line)
			}
			desc, _, ok := strings.Cut(help, "\nUsage:\n  findash")
			if !ok {
				t.Error("no Usage section")
			}
			checkBalanced(t, "the description", desc)

			shown := listedFlags(help)
			visible := map[string]bool{}
			cmd.InitDefaultHelpFlag()
			for _, fs := range []*pflag.FlagSet{cmd.LocalFlags(), cmd.InheritedFlags()} {
				fs.VisitAll(func(f *pflag.Flag) {
					if !f.Hidden {
						visible[f.Name] = true
					}
				})
			}
			if !maps.Equal(shown, visible) {
				t.Errorf("help lists flags %v, the command has %v", slices.Sorted(maps.Keys(shown)), slices.Sorted(maps.Keys(visible)))
			}
			var wantSettings map[string]bool // the settings of serve this command may show
			switch path {
			case "serve":
				wantSettings = serveFlags
			case "migrate", "user create", "user key", "symbol list", "symbol remove":
				wantSettings = storeFlags
			case "symbol add", "import binance", "import csv": // and the cap they register within
				wantSettings = maps.Clone(storeFlags)
				wantSettings["max-symbols"] = true
			case "archive": // and where the archive is, and the default cut
				wantSettings = maps.Clone(storeFlags)
				for _, f := range []string{"archive", "tick-retention", "s3-endpoint", "s3-bucket", "s3-region"} {
					wantSettings[f] = true
				}
			}
			gotSettings := map[string]bool{}
			for f := range shown {
				if serveFlags[f] {
					gotSettings[f] = true
				}
			}
			if !maps.Equal(gotSettings, wantSettings) {
				t.Errorf("help lists the settings %v, want %v", slices.Sorted(maps.Keys(gotSettings)), slices.Sorted(maps.Keys(wantSettings)))
			}
			if path == "user create" {
				own := []string{"api-key", "api-key-name", "api-key-symbols", "email", "help", "password-stdin", "quiet"}
				var got []string
				for f := range shown {
					if !storeFlags[f] {
						got = append(got, f)
					}
				}
				if slices.Sort(got); !slices.Equal(got, own) {
					t.Errorf("user create's own flags = %v, want %v", got, own)
				}
			}
		})
	}
}

// checkSentence fails unless s reads as the opening of a sentence.
func checkSentence(t *testing.T, what, s string) {
	t.Helper()
	switch {
	case !sentenceStart.MatchString(s):
		t.Errorf("%s %q does not start with a capitalised word", what, s)
	case placeholder.MatchString(s):
		t.Errorf("%s %q holds a lone capital letter (a placeholder that lost its flag?)", what, s)
	case strings.Contains(s, "  "):
		t.Errorf("%s %q holds a double space", what, s)
	case len(s) > 120:
		t.Errorf("%s is %d characters, want at most 120: %q", what, len(s), s)
	}
}

// checkLine fails on characters that do not belong in help text.
func checkLine(t *testing.T, n int, line string) {
	t.Helper()
	if line != strings.TrimRight(line, " \t") {
		t.Errorf("line %d has trailing blanks: %q", n, line)
	}
	for i, r := range line {
		switch {
		case r == '\t' && strings.TrimLeft(line[:i], "\t") == "": // cobra indents completion examples with tabs
		case r == unicode.ReplacementChar, unicode.IsControl(r), r == '\u00a0':
			t.Errorf("line %d holds the stray character %U: %q", n, r, line)
		}
	}
	if strings.Contains(line, "%!") {
		t.Errorf("line %d holds a formatting error: %q", n, line)
	}
	if m := flagLine.FindStringSubmatch(line); m != nil {
		usage := strings.TrimSpace(line[len(m[0]):])
		if usage == "" {
			t.Errorf("flag --%s has no description", m[1])
		}
		checkBalanced(t, "flag --"+m[1], line)
	}
}

// checkBalanced fails when text opens more brackets of a kind than it
// closes, or the other way round.
func checkBalanced(t *testing.T, what, text string) {
	t.Helper()
	for _, p := range []string{"()", "[]", "{}"} {
		if strings.Count(text, p[:1]) != strings.Count(text, p[1:]) {
			t.Errorf("%s has unbalanced %s: %q", what, p, text)
		}
	}
}

// listedFlags returns the flags named in help's Flags and Global Flags
// sections.
func listedFlags(help string) map[string]bool {
	got := map[string]bool{}
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "Flags:" || line == "Global Flags:":
			in = true
		case line == "" || !strings.HasPrefix(line, " "):
			in = false
		case in:
			if m := flagLine.FindStringSubmatch(line); m != nil {
				got[m[1]] = true
			}
		}
	}
	return got
}
