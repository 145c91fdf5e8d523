package analysis

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/debrief-go/debrief/schedule"
)

// The headers of a webhook delivery.
const (
	// WebhookSignatureHeader carries "t=<unix seconds>,v1=<hex>": the
	// HMAC-SHA256, keyed by the shared secret, of the timestamp, a ".", and
	// the body. See [VerifyWebhook].
	WebhookSignatureHeader = "Debrief-Signature"
	// WebhookDeliveryHeader carries the notification's ID, the same on
	// every attempt. It is not signed: a receiver that drops repeats does
	// so by the body's "id", which the signature covers.
	WebhookDeliveryHeader = "Debrief-Delivery"
)

// DefaultWebhookTimeout bounds one webhook delivery.
const DefaultWebhookTimeout = 10 * time.Second

// WebhookConfig configures a [WebhookNotifier]. URL and Secret are
// required.
type WebhookConfig struct {
	// URL receives a POST per alert; http or https.
	URL string
	// Secret keys the signature; at least 16 bytes.
	Secret []byte
	// Client sends the requests; default a client of its own. Its
	// redirects are not followed.
	Client *http.Client
	// Timeout bounds one delivery; default [DefaultWebhookTimeout].
	Timeout time.Duration
	// Clock tells the signature's time; default [schedule.SystemClock].
	Clock schedule.Clock
}

// A WebhookNotifier posts each alert as JSON (the [Alert]) to a URL,
// signed with HMAC-SHA256 over a timestamp and the body
// ([WebhookSignatureHeader]), with the notification's ID in
// [WebhookDeliveryHeader]. A 2xx answer delivers it. A 408, 429 or 5xx
// answer, a timeout or a network failure is an error to try again (an
// [Alerter] does, with backoff); any other answer is a [PermanentError].
// Its errors name the status or the kind of failure, never the URL or the
// answer's body.
type WebhookNotifier struct {
	cfg WebhookConfig
}

// NewWebhookNotifier returns a notifier over cfg.
func NewWebhookNotifier(cfg WebhookConfig) (*WebhookNotifier, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, errors.New("analysis: NewWebhookNotifier: the URL must be an absolute http or https URL")
	case len(cfg.Secret) < 16:
		return nil, errors.New("analysis: NewWebhookNotifier: the secret must hold at least 16 bytes")
	case cfg.Timeout < 0:
		return nil, errors.New("analysis: NewWebhookNotifier: the timeout must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultWebhookTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = schedule.SystemClock{}
	}
	client := http.Client{}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	cfg.Secret = bytes.Clone(cfg.Secret)
	return &WebhookNotifier{cfg: cfg}, nil
}

// webhookError is a delivery's failure, named by status or kind.
type webhookError struct{ text string }

func (e *webhookError) Error() string    { return "analysis: webhook: " + e.text }
func (e *webhookError) SafeText() string { return "webhook: " + e.text }

// Notify posts the alert.
func (n *WebhookNotifier) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("analysis: webhook: the alert cannot be written as JSON: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Err: &webhookError{"the request cannot be made"}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "debrief-alerts")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(n.cfg.Secret, n.cfg.Clock.Now(), body))
	if a.ID != "" {
		req.Header.Set(WebhookDeliveryHeader, a.ID)
	}
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return &webhookError{"no answer in time"}
		}
		return &webhookError{"the receiver could not be reached"}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return &webhookError{fmt.Sprintf("the receiver answered %d", code)}
	default:
		return &PermanentError{Err: &webhookError{fmt.Sprintf("the receiver answered %d", code)}}
	}
}

// SignWebhook returns the [WebhookSignatureHeader] value of body sent at
// t: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrWebhookSignature is matched by the error of [VerifyWebhook] for a
// delivery that is not genuine or not fresh.
var ErrWebhookSignature = errors.New("analysis: the webhook signature does not verify")

// VerifyWebhook checks, for a receiver, that header (the
// [WebhookSignatureHeader] value) signs body with secret, at a time no
// further than tolerance (above 0) from now — so that a captured delivery
// cannot be replayed later; within the tolerance a receiver drops a
// replay by the body's "id". It compares in constant time.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		return fmt.Errorf("%w: the tolerance must be above 0", ErrWebhookSignature)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: the header is malformed", ErrWebhookSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed %s from now, more than %s", ErrWebhookSignature, d.Round(time.Second), tolerance)
	}
	want := webhookMAC(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrWebhookSignature)
}

// SlogNotifier logs each alert: a rule that fires at Warn, one that is ok
// again at Info, with the rule, the value and the window.
type SlogNotifier struct {
	// Logger receives the records.
	Logger *slog.Logger
}

// Notify logs the alert.
func (n SlogNotifier) Notify(ctx context.Context, a Alert) error {
	if n.Logger == nil {
		return errors.New("analysis: SlogNotifier has no Logger")
	}
	level := slog.LevelInfo
	if a.State == AlertFiring {
		level = slog.LevelWarn
	}
	value := "none"
	if a.Value.Value != nil {
		value = strconv.FormatFloat(*a.Value.Value, 'f', 2, 64)
	}
	n.Logger.Log(ctx, level, "analysis: alert", "scope", a.Scope.String(), "rule", a.Rule.Name, "state", string(a.State),
		"previous", string(a.Previous), "metric", string(a.Rule.Metric), "op", string(a.Rule.Op), "threshold", a.Rule.Threshold,
		"value", value, "runs", a.Value.Runs, "window", time.Duration(a.Rule.Window).String(), "from", a.Value.From, "to", a.Value.To,
		"id", a.ID)
	return nil
}
