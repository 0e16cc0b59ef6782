package listen

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mailblast/mailblast/feedback"
)

// Applier is what listen hands Events to: *feedback.Applier.
type Applier interface {
	Apply(ctx context.Context, ev feedback.Event) (feedback.Result, error)
}

// Config is what the server needs. A zero key leaves its endpoint off
// (404).
type Config struct {
	// Secret verifies the one-click tokens; nil: /u/ answers 404.
	Secret []byte
	// NewApplier makes the Applier; it is called at the first event and
	// again after a failure, so a ledger busy at start does not stop the
	// server.
	NewApplier func(context.Context) (Applier, error)
	// SNSCertHosts are the hosts SNS signing certificates and
	// SubscribeURLs may come from ("sns.*.amazonaws.com"; "*" is one
	// label). Empty: /webhooks/ses answers 404.
	SNSCertHosts []string
	// SNSTopicARNs, when set, are the only topics accepted.
	SNSTopicARNs []string
	// SendGridKey verifies SendGrid's signed event webhook.
	SendGridKey *ecdsa.PublicKey
	// MailgunKey is Mailgun's HTTP webhook signing key.
	MailgunKey []byte
	// Log gets one line per request; nil discards.
	Log *slog.Logger
	// Client fetches SNS certificates and SubscribeURLs; nil means one
	// with a 10 s timeout. Redirects are never followed.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Body limits: a one-click form is a few bytes, a SendGrid batch can be
// large but a megabyte is far past what providers send in one request.
const (
	formLimit    = 64 << 10
	webhookLimit = 1 << 20
)

// Server timeouts. ReadHeaderTimeout is what stops a slowloris client.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second // Apply's retries fit well within
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownWait      = 10 * time.Second
)

// Handler is the server's routes.
type Handler struct {
	cfg     Config
	applier applierCache
	certs   certCache
	tokens  *tokenSet
	mux     *http.ServeMux
}

// New returns the handler of cfg.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	c := *cfg.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errNoRedirects }
	cfg.Client = &c
	h := &Handler{cfg: cfg, applier: applierCache{make: cfg.NewApplier}, tokens: newTokenSet()}
	h.certs.items = map[string]certEntry{}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /u/{token}", h.confirmPage)
	h.mux.HandleFunc("POST /u/{token}", h.oneClick)
	h.mux.HandleFunc("POST /webhooks/ses", h.ses)
	h.mux.HandleFunc("POST /webhooks/sendgrid", h.sendGrid)
	h.mux.HandleFunc("POST /webhooks/mailgun", h.mailgun)
	return h
}

var errNoRedirects = errors.New("redirects are not followed")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.logRequests(w, r)
}

// Serve answers on ln until ctx ends, then shuts down, waiting at most
// shutdownWait for requests in progress.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownWait)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// logWriter records the status and the handler's one-word result.
type logWriter struct {
	http.ResponseWriter
	status int
	result string
}

func (l *logWriter) WriteHeader(code int) {
	if l.status == 0 {
		l.status = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *logWriter) Write(b []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	return l.ResponseWriter.Write(b)
}

// setResult names what the request did, for its log line.
func setResult(w http.ResponseWriter, result string) {
	if l, ok := w.(*logWriter); ok {
		l.result = result
	}
}

// logRequests serves r and logs it: never the token, the body or a
// header, which may carry secrets or signatures.
func (h *Handler) logRequests(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &logWriter{ResponseWriter: w}
	h.mux.ServeHTTP(lw, r)
	if lw.status == 0 {
		lw.status = http.StatusOK
	}
	h.cfg.Log.Info("request", "method", r.Method, "path", logPath(r.URL.Path), "status", lw.status,
		"duration_ms", time.Since(start).Milliseconds(), "result", lw.result)
}

// logPath keeps the token out of the logs: it is as good as the link.
func logPath(p string) string {
	if strings.HasPrefix(p, "/u/") {
		return "/u/TOKEN"
	}
	if len(p) > 64 {
		return p[:64] + "..."
	}
	return p
}

// readBody reads r's body up to limit; past it the answer is 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		fail(w, http.StatusRequestEntityTooLarge, "too-large")
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		fail(w, http.StatusRequestEntityTooLarge, "too-large")
		return nil, false
	case err != nil:
		fail(w, http.StatusBadRequest, "unreadable-body")
		return nil, false
	}
	return b, true
}

// fail answers code with a one-line text body and logs result.
func fail(w http.ResponseWriter, code int, result string) {
	setResult(w, result)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(http.StatusText(code) + "\n"))
}
