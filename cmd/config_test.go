package cmd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flagSet(args ...string) *pflag.FlagSet {
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.Int("connections", 0, "")
	f.String("template", "", "")
	f.String("state-dir", "", "")
	f.Duration("retry-wait", 0, "")
	f.Parse(args)
	return f
}

func writeConfig(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "mailblast.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrecedence: flags beat the environment, which beats the file, which
// beats the defaults.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "smtp:\n  host: file.example\n  connections: 3\n  port: 2525\n  tls: tls\ntemplate: file.tmpl\n")
	t.Setenv("MAILBLAST_SMTP_CONNECTIONS", "7")
	t.Setenv("MAILBLAST_SMTP_PORT", "2626")
	cfg, err := loadConfig(flagSet("--connections", "9"), file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Connections != 9 {
		t.Errorf("connections %d: the flag (9) must win over env (7) and file (3)", cfg.SMTP.Connections)
	}
	if cfg.SMTP.Port != 2626 {
		t.Errorf("port %d: env (2626) must win over file (2525)", cfg.SMTP.Port)
	}
	if cfg.SMTP.Host != "file.example" || cfg.Template != "file.tmpl" || cfg.SMTP.TLS != "tls" {
		t.Errorf("file values lost: %+v", cfg)
	}
	if cfg.SMTP.MaxMessagesPerConnection != 1000 || cfg.SMTP.Timeout != time.Minute {
		t.Errorf("defaults lost: %+v", cfg.SMTP)
	}
}

func TestEnvOnlyKeysAndDefaultsPort(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MAILBLAST_SMTP_HOST", "relay.example")
	t.Setenv("MAILBLAST_SMTP_PASSWORD", "s3cret")
	t.Setenv("MAILBLAST_RETRY_SCHEDULE", "1s,2s")
	t.Setenv("MAILBLAST_SMTP_TLS", "tls")
	cfg, err := loadConfig(flagSet(), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTP.Host != "relay.example" || cfg.SMTP.Port != 465 {
		t.Errorf("host %q port %d, want relay.example:465", cfg.SMTP.Host, cfg.SMTP.Port)
	}
	if pw, _ := cfg.password(); pw != "s3cret" {
		t.Errorf("password from env not read")
	}
	if len(cfg.Retry.Schedule) != 2 || cfg.Retry.Schedule[0] != time.Second || cfg.Retry.Schedule[1] != 2*time.Second {
		t.Errorf("schedule %v, want [1s 2s]", cfg.Retry.Schedule)
	}
}

func TestConfigFileInCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	os.WriteFile(filepath.Join(dir, "mailblast.yaml"), []byte("smtp:\n  host: cwd.example\n"), 0o600)
	cfg, err := loadConfig(flagSet(), "")
	if err != nil || cfg.SMTP.Host != "cwd.example" || cfg.SMTP.Port != 587 {
		t.Fatalf("cfg %+v err %v", cfg, err)
	}
}

func TestPasswordFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("from-file\n"), 0o600)
	file := writeConfig(t, "smtp:\n  host: h\n  password_file: "+p+"\n")
	cfg, err := loadConfig(flagSet(), file)
	if err != nil {
		t.Fatal(err)
	}
	if pw, err := cfg.password(); err != nil || pw != "from-file" {
		t.Fatalf("password %q %v", pw, err)
	}
}

func TestBadConfigExits78(t *testing.T) {
	for name, body := range map[string]string{
		"tls":         "smtp:\n  tls: maybe\n",
		"connections": "smtp:\n  connections: 0\n",
		"yaml":        "smtp: [\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(flagSet(), writeConfig(t, body))
			var ce *configError
			if !errors.As(err, &ce) || exitCode(err) != exitConfig {
				t.Fatalf("err %v (exit %d), want a config error exiting 78", err, exitCode(err))
			}
		})
	}
	_, err := loadConfig(flagSet(), "/nonexistent/mailblast.yaml")
	if exitCode(err) != exitConfig {
		t.Fatalf("missing --config file: exit %d, want 78", exitCode(err))
	}
}

// TestBinaryNamedLikeConfigIgnored: a file called plain "mailblast" (the
// binary) in the current directory is not a config file.
func TestBinaryNamedLikeConfigIgnored(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	os.WriteFile(filepath.Join(dir, "mailblast"), []byte("\x7fELF\x00\x01binary"), 0o755)
	if _, err := loadConfig(flagSet(), ""); err != nil {
		t.Fatalf("the binary was read as config: %v", err)
	}
}
