package config

import (
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// LogValue renders the configuration for the start-up log: one attribute
// per setting, named as in the file (http_addr), lists joined by commas as
// on the command line, empty settings left out, secrets hidden. A text log
// shows it as config.http_addr=… pairs, a JSON log as one object.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// String renders the configuration as space-separated key=value pairs,
// with LogValue's rules.
func (c Config) String() string {
	var sb strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(a.Key + "=" + a.Value.String())
	}
	return sb.String()
}

// attrs walks the fields by their koanf tags, so a new setting is printed
// without being listed here.
func (c Config) attrs() []slog.Attr {
	v := reflect.ValueOf(c)
	var out []slog.Attr
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("koanf")
		if name == "" || name == "-" {
			continue
		}
		switch f := v.Field(i).Interface().(type) {
		case string:
			if f != "" {
				out = append(out, slog.String(name, hideString(name, f)))
			}
		case []string:
			if len(f) > 0 {
				hidden := make([]string, len(f))
				for i, s := range f {
					hidden[i] = hideString(name, s)
				}
				out = append(out, slog.String(name, strings.Join(hidden, ",")))
			}
		case time.Duration:
			out = append(out, slog.Duration(name, f))
		default:
			out = append(out, slog.Any(name, f))
		}
	}
	return append(out, slog.Bool("tracing", c.Tracing))
}

// hideString hides a secret setting's value and the passwords in URLs
// (a comma list of them for nats_url).
func hideString(name, v string) string {
	switch {
	case strings.Contains(name, "secret") || strings.Contains(name, "password"):
		return "xxxxx"
	case strings.HasSuffix(name, "_url") || strings.HasSuffix(name, "_urls"):
		parts := strings.Split(v, ",")
		for i, p := range parts {
			parts[i] = redactURL(strings.TrimSpace(p))
		}
		return strings.Join(parts, ",")
	}
	return v
}

// redactURL hides every credential urlHasSecret knows of: a password, a
// NATS token (a user without password), a password query parameter.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else if u.Scheme == "nats" || u.Scheme == "tls" {
			u.User = url.User("xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
