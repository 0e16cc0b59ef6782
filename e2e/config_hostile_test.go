package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/sender/sendertest"
)

// relayYAML is a mailblast.yaml whose smtp.relays are entries, one a line.
func relayYAML(entries ...string) string {
	var b strings.Builder
	b.WriteString("smtp:\n  allow_insecure_auth: true\n  relays:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "    - %s\n", e)
	}
	return b.String()
}

// TestRelayTLSTypoRefused (issue 15 item 1): a relay entry's tls that is
// not exactly starttls, tls or none exits 78 before any connection; it used
// to mean "no TLS" and AUTH PLAIN went out in clear.
func TestRelayTLSTypoRefused(t *testing.T) {
	for _, v := range []string{"STARTTLS", "yes", "ssl"} {
		t.Run(v, func(t *testing.T) {
			srv := sendertest.NewServer(t, sendertest.Options{Username: "bob", Password: "TopSecret"})
			w := forServer(t, srv, 3)
			w.env = append(w.env, "RELAY_PW=TopSecret")
			w.write("mailblast.yaml", fmt.Sprintf("smtp:\n  relays:\n    - {name: office, host: %s, port: %d, tls: %s, username: bob, password_env: RELAY_PW}\n",
				srv.Host(), srv.Port(), v))
			_, stderr, code := w.run("send", "list.csv")
			if code != 78 || !strings.Contains(stderr, "smtp.relays[0].tls") {
				t.Fatalf("tls: %s: exit %d, want 78 naming smtp.relays[0].tls; stderr:\n%s", v, code, stderr)
			}
			if n := srv.Connections(); n != 0 || srv.Count() != 0 {
				t.Fatalf("tls: %s: %d connections, %d messages; want none", v, n, srv.Count())
			}
		})
	}
}

// TestNoAuthWithoutSTARTTLS: a relay set to starttls that does not offer
// it never sees AUTH, even with allow_insecure_auth set elsewhere.
func TestNoAuthWithoutSTARTTLS(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{Username: "bob", Password: "TopSecret"})
	w := forServer(t, srv, 3)
	w.env = append(w.env, "RELAY_PW=TopSecret")
	w.write("mailblast.yaml", fmt.Sprintf("smtp:\n  relays:\n    - {name: office, host: %s, port: %d, tls: starttls, username: bob, password_env: RELAY_PW}\n",
		srv.Host(), srv.Port()))
	_, stderr, code := w.run("send", "list.csv")
	if code != 78 {
		t.Fatalf("exit %d, want 78; stderr:\n%s", code, stderr)
	}
	if cmds := srv.Commands(); slices.Contains(cmds, "AUTH") || srv.Count() != 0 {
		t.Fatalf("the relay without STARTTLS saw %v and %d messages", cmds, srv.Count())
	}
}

// TestRelayNamesCollide (issue 15 item 2): an explicit name equal to the
// next relay's automatic one, or two equal names, exit 78 before any
// connection; relay A used to get alice with bob's password.
func TestRelayNamesCollide(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{Username: "alice", Password: "pw-of-alice"})
	b := sendertest.NewServer(t, sendertest.Options{Username: "bob", Password: "pw-of-bob"})
	for name, yaml := range map[string]string{
		"automatic": relayYAML(
			fmt.Sprintf("{name: relay2, host: %s, port: %d, tls: none, username: alice, password_env: PW_A}", a.Host(), a.Port()),
			fmt.Sprintf("{host: %s, port: %d, tls: none, username: bob, password_env: PW_B}", b.Host(), b.Port())),
		"explicit": relayYAML(
			fmt.Sprintf("{name: x, host: %s, port: %d, tls: none, username: alice, password_env: PW_A}", a.Host(), a.Port()),
			fmt.Sprintf("{name: x, host: %s, port: %d, tls: none, username: bob, password_env: PW_B}", b.Host(), b.Port())),
	} {
		t.Run(name, func(t *testing.T) {
			w := forServer(t, a, 4)
			w.env = append(w.env, "PW_A=pw-of-alice", "PW_B=pw-of-bob")
			w.write("mailblast.yaml", yaml)
			_, stderr, code := w.run("send", "list.csv")
			if code != 78 || !strings.Contains(stderr, "smtp.relays[1].name") {
				t.Fatalf("exit %d, want 78 naming smtp.relays[1].name; stderr:\n%s", code, stderr)
			}
		})
	}
	if a.Connections()+b.Connections() != 0 {
		t.Fatalf("colliding names: %d and %d connections, want none", a.Connections(), b.Connections())
	}
}

// TestEachRelayItsOwnPassword: two relays that each accept only their own
// user and password both take mail.
func TestEachRelayItsOwnPassword(t *testing.T) {
	a := sendertest.NewServer(t, sendertest.Options{Username: "alice", Password: "pw-of-alice"})
	b := sendertest.NewServer(t, sendertest.Options{Username: "bob", Password: "pw-of-bob"})
	w := forServer(t, a, 20)
	w.env = append(w.env, "PW_A=pw-of-alice", "PW_B=pw-of-bob")
	w.write("mailblast.yaml", relayYAML(
		fmt.Sprintf("{name: relay2, host: %s, port: %d, tls: none, username: alice, password_env: PW_A}", a.Host(), a.Port()),
		fmt.Sprintf("{name: second, host: %s, port: %d, tls: none, username: bob, password_env: PW_B}", b.Host(), b.Port())))
	w.mustRun(0, "send", "list.csv")
	if a.Count() == 0 || b.Count() == 0 || a.Count()+b.Count() != 20 {
		t.Fatalf("relay A took %d, relay B %d; want both some, 20 in all", a.Count(), b.Count())
	}
}

// TestUsernameWithoutPasswordRefused: exit 78 before connecting, naming
// where the password comes from.
func TestUsernameWithoutPasswordRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	w := forServer(t, srv, 2)
	w.env = append(withoutEnv(w.env, "MAILBLAST_SMTP_PASSWORD"), "MAILBLAST_SMTP_USERNAME=bob")
	_, stderr, code := w.run("send", "list.csv")
	if code != 78 || !strings.Contains(stderr, "MAILBLAST_SMTP_PASSWORD") || !strings.Contains(stderr, "smtp.password_file") {
		t.Fatalf("exit %d, want 78 naming MAILBLAST_SMTP_PASSWORD and smtp.password_file; stderr:\n%s", code, stderr)
	}
	if srv.Connections() != 0 {
		t.Fatalf("%d connections, want none", srv.Connections())
	}
}

// TestBadValuesRefused (issue 15 item 9, issue 11): each exits 78 before
// any connection and names its key.
func TestBadValuesRefused(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{})
	for _, c := range []struct{ name, yaml, env, flag, key string }{
		{name: "schedule negative", env: "MAILBLAST_RETRY_SCHEDULE=-1s", key: "retry.schedule[0]"},
		{name: "schedule zero", yaml: "retry:\n  schedule: [0s]\n", key: "retry.schedule[0]"},
		{name: "port too big", env: "MAILBLAST_SMTP_PORT=99999", key: "smtp.port"},
		{name: "port negative", env: "MAILBLAST_SMTP_PORT=-5", key: "smtp.port"},
		{name: "max_age", yaml: "retry:\n  max_age: -1h\n", key: "retry.max_age"},
		{name: "grace", env: "MAILBLAST_GRACE=-1s", key: "grace"},
		{name: "timeout", env: "MAILBLAST_SMTP_TIMEOUT=-5s", key: "smtp.timeout"},
		{name: "progress", env: "MAILBLAST_PROGRESS=loud", key: "progress"},
		{name: "progress flag", flag: "--progress=fancy", key: "--progress"},
		{name: "retry-wait", flag: "--retry-wait=-5m", key: "retry.wait"},
		{name: "connections", flag: "--connections=-1", key: "smtp.connections"},
		{name: "top tls", env: "MAILBLAST_SMTP_TLS=yes", key: "smtp.tls"},
		{name: "relay weight", yaml: relayYAML(fmt.Sprintf("{host: %s, port: %d, weight: -1}", srv.Host(), srv.Port())), key: "smtp.relays[0].weight"},
		{name: "relay connections", yaml: relayYAML(fmt.Sprintf("{host: %s, port: %d, connections: -4}", srv.Host(), srv.Port())), key: "smtp.relays[0].connections"},
		{name: "relay connections zero", yaml: relayYAML(fmt.Sprintf("{host: %s, port: %d, connections: 0}", srv.Host(), srv.Port())), key: "smtp.relays[0].connections"},
		{name: "relay port", yaml: relayYAML(fmt.Sprintf("{host: %s, port: 99999}", srv.Host())), key: "smtp.relays[0].port"},
		{name: "typo conections", yaml: "smtp:\n  conections: 3\n", key: "smtp.connections"},
		{name: "typo hots", yaml: "smtp:\n  hots: relay.example\n", key: "smtp.host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := forServer(t, srv, 5)
			if c.yaml != "" {
				w.write("mailblast.yaml", c.yaml)
			}
			if c.env != "" {
				w.env = append(w.env, c.env)
			}
			args := []string{"send", "list.csv"}
			if c.flag != "" {
				args = append(args, c.flag)
			}
			_, stderr, code := w.run(args...)
			if code != 78 || !strings.Contains(stderr, c.key) {
				t.Fatalf("exit %d, want 78 naming %s; stderr:\n%s", code, c.key, stderr)
			}
		})
	}
	if srv.Connections() != 0 {
		t.Fatalf("%d connections, want none", srv.Connections())
	}
}

// TestCAFile (issue 15 item 11): a STARTTLS relay whose certificate only a
// private CA vouches for works with smtp.ca_file, and fails verification
// (exit 78) without it.
func TestCAFile(t *testing.T) {
	srv := sendertest.NewServer(t, sendertest.Options{TLS: true})
	w := forServer(t, srv, 3)
	w.env = append(withoutEnv(w.env, "SSL_CERT_FILE"), "MAILBLAST_SMTP_TLS=starttls")
	if _, stderr, code := w.run("send", "list.csv"); code != 78 {
		t.Fatalf("without ca_file: exit %d, want 78; stderr:\n%s", code, stderr)
	}
	w.env = append(w.env, "MAILBLAST_SMTP_CA_FILE="+srv.CertFile())
	w.mustRun(0, "send", "list.csv")
	if srv.Count() != 3 {
		t.Fatalf("%d delivered with ca_file, want 3", srv.Count())
	}
}

// withoutEnv drops the variable name from env.
func withoutEnv(env []string, name string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}
