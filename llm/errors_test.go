package llm_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

func TestErrorClassification(t *testing.T) {
	cause := errors.New("socket closed")
	e := &llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, RetryAfter: 3 * time.Second, Message: "slow down", Err: cause}
	wrapped := fmt.Errorf("calling model: %w", e)

	assert.ErrorIs(t, wrapped, llm.ErrRateLimited)
	assert.NotErrorIs(t, wrapped, llm.ErrTransient)
	assert.ErrorIs(t, wrapped, cause, "the cause stays reachable")
	var got *llm.Error
	assert.ErrorAs(t, wrapped, &got)
	assert.Equal(t, 429, got.StatusCode)
	assert.Equal(t, "llm: rate limited (status 429) (retry after 3s): slow down: socket closed", e.Error())

	d, ok := llm.RetryAfter(wrapped)
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, ok = llm.RetryAfter(errors.New("plain"))
	assert.False(t, ok)

	unclassified := &llm.Error{StatusCode: 401, Message: "bad key"}
	assert.Equal(t, "llm: provider error (status 401): bad key", unclassified.Error())
	for _, s := range []error{llm.ErrRateLimited, llm.ErrTransient, llm.ErrRefused, llm.ErrContextTooLong, llm.ErrOutputTruncated, llm.ErrInvalidOutput} {
		assert.NotErrorIs(t, unclassified, s)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"rate limited", &llm.Error{Kind: llm.ErrRateLimited}, true},
		{"transient", &llm.Error{Kind: llm.ErrTransient, StatusCode: 503}, true},
		{"wrapped transient", fmt.Errorf("x: %w", &llm.Error{Kind: llm.ErrTransient}), true},
		{"bare sentinel", llm.ErrTransient, true},
		{"refused", &llm.Error{Kind: llm.ErrRefused}, false},
		{"context too long", &llm.Error{Kind: llm.ErrContextTooLong}, false},
		{"truncated", &llm.Error{Kind: llm.ErrOutputTruncated}, false},
		{"invalid output", &llm.InvalidOutputError{}, false},
		{"unclassified provider error", &llm.Error{StatusCode: 401}, false},
		{"classified error wrapping a reset", &llm.Error{Kind: llm.ErrRefused, Err: syscall.ECONNRESET}, false},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"unexpected EOF", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), true},
		{"network timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, true},
		{"unclassified error wrapping a reset", &llm.Error{StatusCode: 0, Err: syscall.ECONNRESET}, true},
		{"url error timing out", &url.Error{Op: "Post", URL: "https://api.example.com", Err: timeoutErr{}}, true},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"transient joined with canceled", fmt.Errorf("%w: %w", context.Canceled, llm.ErrTransient), false},
		{"plain error", errors.New("nope"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, llm.Retryable(tt.err))
		})
	}
}

func TestRetryableHTTPClientTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	client := &http.Client{Timeout: time.Millisecond}
	_, err := client.Get(srv.URL)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the client's own timeout looks like a deadline")
	assert.True(t, llm.Retryable(err), "but it is the provider being slow: worth retrying")
	assert.False(t, llm.Retryable(context.DeadlineExceeded), "a bare deadline is not")
}

func TestErrorFromHTTP(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status int
		header http.Header
		kind   error
		after  time.Duration
	}{
		{429, http.Header{"Retry-After": {"7"}}, llm.ErrRateLimited, 7 * time.Second},
		{429, nil, llm.ErrRateLimited, 0},
		{503, http.Header{"Retry-After": {"2"}}, llm.ErrTransient, 2 * time.Second},
		{500, nil, llm.ErrTransient, 0},
		{502, nil, llm.ErrTransient, 0},
		{522, nil, llm.ErrTransient, 0},
		{501, nil, nil, 0},
		{505, nil, nil, 0},
		{529, nil, llm.ErrTransient, 0},
		{408, nil, llm.ErrTransient, 0},
		{409, nil, llm.ErrTransient, 0},
		{413, nil, llm.ErrContextTooLong, 0},
		{400, nil, nil, 0},
		{401, nil, nil, 0},
		{404, nil, nil, 0},
	}
	for _, tt := range tests {
		e := llm.ErrorFromHTTP(tt.status, tt.header, "msg", now)
		assert.Equal(t, tt.status, e.StatusCode)
		assert.Equal(t, tt.kind, e.Kind, "status %d", tt.status)
		assert.Equal(t, tt.after, e.RetryAfter, "status %d", tt.status)
		assert.Equal(t, "msg", e.Message)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second, true},
		{"fractional seconds", http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond, true},
		{"milliseconds header wins", http.Header{"Retry-After": {"30"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond, true},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"http date in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0, false},
		{"zero", http.Header{"Retry-After": {"0"}}, 0, false},
		{"negative", http.Header{"Retry-After": {"-4"}}, 0, false},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"garbage ms falls back", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, 2 * time.Second, true},
		{"absurd", http.Header{"Retry-After": {"1e300"}}, 0, false},
		{"absent", http.Header{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := llm.ParseRetryAfter(tt.header, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSafeText(t *testing.T) {
	const secret = "sk-SECRET"
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, RetryAfter: 2 * time.Second, Message: secret, Err: errors.New(secret)}, "llm: rate limited (status 429) (retry after 2s)"},
		{&llm.Error{StatusCode: 401, Message: "bad key " + secret}, "llm: provider error (status 401)"},
		{fmt.Errorf("wrapped: %w", &llm.Error{Kind: llm.ErrTransient, Message: secret}), "llm: transient failure"},
		{fmt.Errorf("%s: %w", secret, llm.ErrRefused), "llm: refused"},
		{context.DeadlineExceeded, "context deadline exceeded: the call timed out"},
		{fmt.Errorf("%s: %w", secret, context.Canceled), "context canceled"},
		{errors.New("dial https://x?key=" + secret), "an error of type *errors.errorString"},
		{&llm.InvalidOutputError{Schema: "verdict", Problems: []llm.Problem{{Path: "$.score", Message: secret}}, Content: secret, Attempts: 2},
			`llm: invalid output for schema "verdict" after 2 attempt(s): problems at $.score`},
		{fmt.Errorf("%s: %w", secret, safeErr{}), "route: no model for key \"judge\""},
	} {
		got := llm.SafeText(tc.err)
		assert.Equal(t, tc.want, got)
		assert.NotContains(t, got, secret)
	}
}

func TestSafeTextKeepsNoInvalidRequestText(t *testing.T) {
	assert.Equal(t, "llm: invalid request", llm.SafeText(fmt.Errorf("%w: provider said sk-SECRET", llm.ErrInvalidRequest)))
	err := llm.Request{}.Validate()
	assert.Equal(t, err.Error(), llm.SafeText(err), "the package's own request problems are named by field")
}

// safeErr is a host's failure that describes itself safely.
type safeErr struct{}

func (safeErr) Error() string    { return "route failed for sk-SECRET" }
func (safeErr) SafeText() string { return `route: no model for key "judge"` }

func TestSafeTextNamesNetworkFailuresWithoutTheirAddress(t *testing.T) {
	const secret = "key=sk-SECRET"
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://api.example.com/v1/chat?" + secret, Err: err}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), "network error: connection refused"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "network error: connection reset by the peer"},
		{wrap(&net.DNSError{Err: "no such host", Name: "api." + secret, IsNotFound: true}), "network error: the host name was not found"},
		{wrap(&net.DNSError{Err: "server misbehaving", Name: "api." + secret}), "network error: the host name could not be resolved"},
		{wrap(io.ErrUnexpectedEOF), "network error: the connection closed before the answer was complete"},
		{wrap(netTimeoutErr{}), "network error: timed out"},
		{wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "network error: the server's TLS certificate was not accepted"},
		{wrap(&net.OpError{Op: "remote error", Err: tls.RecordHeaderError{Msg: secret}}), "network error: the server did not answer in TLS"},
		{wrap(&net.OpError{Op: "write", Err: errors.New(secret)}), "network error: write failed"},
		{wrap(errors.New(secret)), "an error of type *url.Error"},
	} {
		got := llm.SafeText(tc.err)
		assert.Equal(t, tc.want, got)
		assert.NotContains(t, got, "SECRET")
	}
}

type netTimeoutErr struct{}

func (netTimeoutErr) Error() string   { return "i/o timeout" }
func (netTimeoutErr) Timeout() bool   { return true }
func (netTimeoutErr) Temporary() bool { return true }

func TestErrorType(t *testing.T) {
	for want, err := range map[string]error{
		"":                 nil,
		"timeout":          fmt.Errorf("wrapped: %w", context.DeadlineExceeded),
		"canceled":         context.Canceled,
		"rate_limited":     &llm.Error{Kind: llm.ErrRateLimited, StatusCode: 429, Message: "sk-secret"},
		"transient":        &llm.Error{Kind: llm.ErrTransient, StatusCode: 503},
		"refused":          &llm.Error{Kind: llm.ErrRefused},
		"context_too_long": &llm.Error{Kind: llm.ErrContextTooLong},
		"output_truncated": &llm.Error{Kind: llm.ErrOutputTruncated},
		"invalid_output":   &llm.InvalidOutputError{Schema: "s"},
		"invalid_request":  llm.Request{}.Validate(),
		"401":              &llm.Error{StatusCode: 401, Message: "bad key sk-secret"},
		"_OTHER":           errors.New("sk-secret"),
	} {
		assert.Equal(t, want, llm.ErrorType(err), "%v", err)
	}
	assert.Equal(t, "timeout", llm.ErrorType(&llm.Error{Kind: llm.ErrTransient, Err: timeoutErr{}}), "a network timeout")
	assert.Equal(t, "timeout", llm.ErrorType(fmt.Errorf("post: %w", timeoutErr{})))
	assert.Equal(t, "_OTHER", llm.ErrorType(&llm.Error{StatusCode: 1000}), "not a status")
}
