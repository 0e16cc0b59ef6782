package cmd

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailblast/mailblast/campaign"
	"github.com/mailblast/mailblast/sender"
)

func isolate(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

// TestOAuth2FromEnv: every smtp.oauth2 key is read from
// MAILBLAST_SMTP_OAUTH2_*, paths made absolute, scopes split the way OAuth
// writes them, and no password is asked for.
func TestOAuth2FromEnv(t *testing.T) {
	isolate(t)
	for k, v := range map[string]string{
		"MAILBLAST_SMTP_HOST": "smtp.office365.com", "MAILBLAST_SMTP_USERNAME": "me@example.com",
		"MAILBLAST_SMTP_AUTH":                      "xoauth2",
		"MAILBLAST_SMTP_OAUTH2_TOKEN_URL":          "https://login.microsoftonline.com/T/oauth2/v2.0/token",
		"MAILBLAST_SMTP_OAUTH2_CLIENT_ID":          "cid",
		"MAILBLAST_SMTP_OAUTH2_CLIENT_SECRET_FILE": "secret",
		"MAILBLAST_SMTP_OAUTH2_REFRESH_TOKEN_FILE": "refresh",
		"MAILBLAST_SMTP_OAUTH2_SCOPES":             "https://outlook.office.com/SMTP.Send offline_access",
	} {
		t.Setenv(k, v)
	}
	var warnings strings.Builder
	cfg, err := loadConfig(flagSet(), "")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.SMTP.OAuth2
	if o == nil || o.ClientID != "cid" || !filepath.IsAbs(o.RefreshTokenFile) || !filepath.IsAbs(o.ClientSecretFile) ||
		!slices.Equal(o.Scopes, []string{"https://outlook.office.com/SMTP.Send", "offline_access"}) || cfg.SMTP.Auth != sender.AuthXOAuth2 {
		t.Fatalf("smtp.oauth2 %+v, auth %q", o, cfg.SMTP.Auth)
	}
	if _, err := cfg.passwords(&campaign.Settings{SMTP: cfg.SMTP.Settings}); err != nil {
		t.Errorf("a password asked for beside oauth2: %v", err)
	}
	warnUnknownEnv(cfg, []string{"MAILBLAST_SMTP_OAUTH2_TOKEN_URL=x", "MAILBLAST_SMTP_AUTH=plain"}, &warnings)
	if warnings.Len() > 0 {
		t.Errorf("known keys warned about: %s", warnings.String())
	}
}

// TestOAuth2Refused: each way an oauth2 block cannot work is a
// configuration error naming the key.
func TestOAuth2Refused(t *testing.T) {
	grant := "  oauth2:\n    token_url: https://oauth2.googleapis.com/token\n    client_id: c\n    refresh_token_file: r\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"bearer mechanism, no oauth2", "smtp:\n  username: u\n  auth: xoauth2\n", "smtp.auth is xoauth2 but smtp.oauth2 is not set"},
		{"unknown mechanism", "smtp:\n  auth: cram-md5\n", "use plain, login, xoauth2 or oauthbearer"},
		{"no username", "smtp:\n" + grant, "the username is not"},
		{"token_url in clear", "smtp:\n  username: u\n  oauth2:\n    token_url: http://idp.example/token\n    client_id: c\n    refresh_token_file: r\n", "must be an https URL"},
		{"grant incomplete", "smtp:\n  username: u\n  oauth2:\n    token_url: https://idp.example/token\n", "smtp.oauth2.client_id is not set"},
		{"both kinds", "smtp:\n  username: u\n  oauth2:\n    token_file: t\n    client_id: c\n", "use one"},
		{"relay's own", "smtp:\n  host: h\n  relays:\n    - host: a\n      username: u\n      auth: oauthbearer\n", "smtp.relays[0].auth is oauthbearer but smtp.relays[0].oauth2 is not set"},
		{"unknown key", "smtp:\n  oauth2:\n    token_ur: x\n", "did you mean smtp.oauth2.token_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			_, err := loadConfig(flagSet(), writeConfig(t, c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TestOAuth2PerRelay: a relay's oauth2 is its own; a relay without one
// does not get smtp.*'s token, and needs a password of its own.
func TestOAuth2PerRelay(t *testing.T) {
	isolate(t)
	file := writeConfig(t, `smtp:
  username: top@example.com
  oauth2:
    token_file: top-token
  relays:
    - name: m365
      host: smtp.office365.com
      username: a@example.com
      oauth2:
        token_url: http://127.0.0.1:8080/token
        client_id: c
        refresh_token_file: rt
    - name: plain
      host: smtp.example.com
      username: b@example.com
      password_env: B_PW
`)
	cfg, err := loadConfig(flagSet(), file)
	if err != nil {
		t.Fatal(err)
	}
	m365, plain := cfg.relaySettings[0], cfg.relaySettings[1]
	if m365.OAuth2 == nil || m365.OAuth2.ClientID != "c" || m365.OAuth2.TokenFile != "" {
		t.Errorf("m365 oauth2 %+v", m365.OAuth2)
	}
	if plain.OAuth2 != nil || !needsPassword(plain.Settings) {
		t.Errorf("the plain relay inherited smtp.oauth2: %+v", plain.OAuth2)
	}
	// What a campaign stores holds the paths, never what they hold.
	b, _ := json.Marshal(campaign.Settings{SMTP: cfg.SMTP.Settings, Relays: cfg.relaySettings})
	if !strings.Contains(string(b), `"refresh_token_file":"`) || !strings.Contains(string(b), "top-token") {
		t.Errorf("stored settings lack the oauth2 paths: %s", b)
	}
}

// TestResumeTakesTodaysLogin: on resume, how the account logs in is
// today's configuration's, like the username.
func TestResumeTakesTodaysLogin(t *testing.T) {
	isolate(t)
	stored := campaign.Settings{SMTP: sender.Settings{Host: "h", Username: "u", Auth: sender.AuthXOAuth2,
		OAuth2: &sender.OAuth2{TokenFile: "/old/token"}}}
	cfg, err := loadConfig(flagSet(), writeConfig(t, "smtp:\n  username: u\n  oauth2:\n    token_file: new-token\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.overlay(stored)
	if s.SMTP.OAuth2 == nil || !strings.HasSuffix(s.SMTP.OAuth2.TokenFile, "new-token") || s.SMTP.Auth != sender.AuthAuto {
		t.Errorf("resume kept the stored login: %+v %q", s.SMTP.OAuth2, s.SMTP.Auth)
	}
}

// TestOAuth2ReadmeExample: the README's Google example, as written.
func TestOAuth2ReadmeExample(t *testing.T) {
	isolate(t)
	cfg, err := loadConfig(flagSet(), writeConfig(t, `smtp:
  host: smtp.gmail.com
  port: 587
  tls: starttls
  username: news@example.com        # the account the token is for
  oauth2:
    token_url: https://oauth2.googleapis.com/token
    client_id: 1234567890-abc.apps.googleusercontent.com
    client_secret_file: /etc/mailblast/google-client-secret
    refresh_token_file: /etc/mailblast/google-refresh-token
    scopes: https://mail.google.com/
`))
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.SMTP.OAuth2; o == nil || !slices.Equal(o.Scopes, []string{"https://mail.google.com/"}) || o.RefreshTokenFile != "/etc/mailblast/google-refresh-token" {
		t.Errorf("oauth2 %+v", o)
	}
}
