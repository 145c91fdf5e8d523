package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The classes of model errors. Check them with [errors.Is]; the detail of a
// provider failure is in an [*Error], found with [errors.As].
var (
	// ErrRateLimited: the provider throttled the call (HTTP 429). The
	// [*Error] may carry how long to wait in RetryAfter. Worth retrying.
	ErrRateLimited = errors.New("llm: rate limited")
	// ErrTransient: a failure that may not recur: a 5xx answer, a reset
	// connection, a timeout on the provider's side. Worth retrying.
	ErrTransient = errors.New("llm: transient failure")
	// ErrRefused: the model or the provider's content filter declined to answer.
	ErrRefused = errors.New("llm: refused")
	// ErrContextTooLong: the request does not fit the model's context window.
	ErrContextTooLong = errors.New("llm: context too long")
	// ErrOutputTruncated: the answer was cut by the output-token limit
	// (finish reason "length").
	ErrOutputTruncated = errors.New("llm: output truncated")
	// ErrInvalidOutput: the answer is not valid JSON, does not satisfy the
	// request's schema, or does not decode into the expected Go type. The
	// detail is in an [*InvalidOutputError].
	ErrInvalidOutput = errors.New("llm: invalid output")
	// ErrInvalidRequest: the request itself is malformed (see [Request.Validate]).
	ErrInvalidRequest = errors.New("llm: invalid request")
)

// An Error is a classified failure of a model call.
//
// Its Message and the text of Err come from the provider and may contain
// anything the provider chose to say: never show them to an operator
// unfiltered.
type Error struct {
	// Kind is the class: one of the Err* sentinels of this package, or nil
	// for a provider failure that fits none of them (a 401, say).
	Kind error
	// StatusCode is the provider's HTTP status, or 0 when there was none.
	StatusCode int
	// RetryAfter is how long the provider asked the caller to wait before
	// trying again, or 0 when it did not say.
	RetryAfter time.Duration
	// Message is the provider's explanation, if any.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure: class, status, provider message and cause.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("llm: provider error")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Is reports whether target is e's class.
func (e *Error) Is(target error) bool { return e.Kind != nil && target == e.Kind }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying: a rate limit or a
// transient failure, including a connection reset, an unexpected EOF or a
// network timeout (an HTTP client's own timeout among them) that no adapter
// classified. It is false for nil, for a cancellation, for a bare context
// deadline, and for every other class. An HTTP client reports the caller's
// own expired deadline as a timeout too: callers check their context before
// retrying, as [WithRetry] does.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrTransient) {
		return true
	}
	var kinded *Error
	if errors.As(err, &kinded) && kinded.Kind != nil {
		return false // classified as something else: trust the classification
	}
	return isNetworkHiccup(err)
}

// isNetworkHiccup recognises the connection-level failures that are worth
// retrying when nothing classified them.
func isNetworkHiccup(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// context.DeadlineExceeded is itself a net.Error that times out: only a
	// timeout reported by something else (an HTTP client, a dialer) counts.
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && ne != context.DeadlineExceeded
}

// RetryAfter returns the wait the provider asked for, found in the first
// [*Error] in err's chain, and whether it was known.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// ErrorFromHTTP classifies a provider's non-2xx HTTP answer for adapters:
// 429 is [ErrRateLimited]; 408, 409, 425, 500, 502, 503, 504, 520–524
// (proxy errors) and 529 (overloaded) are [ErrTransient]; 413 is
// [ErrContextTooLong]; anything else (501, 505, every other 4xx) is an
// unclassified [*Error].
// The wait asked for in the headers (see [ParseRetryAfter]) is recorded for
// every status. message is the provider's explanation, kept in Message.
func ErrorFromHTTP(status int, header http.Header, message string, now time.Time) *Error {
	e := &Error{StatusCode: status, Message: message}
	e.RetryAfter, _ = ParseRetryAfter(header, now)
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooEarly,
		status == 500, status == 502, status == 503, status == 504, status >= 520 && status <= 524, status == 529:
		e.Kind = ErrTransient
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = ErrContextTooLong
	}
	return e
}

// ParseRetryAfter reads how long a provider asked the caller to wait:
// the "retry-after-ms" header (milliseconds, as OpenAI-compatible servers
// send it), else "Retry-After" as seconds (fractions allowed) or as an HTTP
// date, measured from now. It reports false when neither header holds a
// usable, positive wait.
func ParseRetryAfter(header http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(header.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e9 {
			return time.Duration(s * float64(time.Second)), true
		}
		return 0, false
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// A SafeError is an error that can describe itself to an operator: its
// SafeText holds nothing a provider wrote — no key, URL or body — only what
// the model's own code knows went wrong. A host's [Model] returns one for
// failures of its own making (a misconfigured route, say) so that item
// reasons and logs say more than the error's type; [SafeText] uses it.
type SafeError interface {
	error
	// SafeText describes the failure for an operator.
	SafeText() string
}

// SafeText describes err for a log an operator reads, leaving out what a
// provider wrote — its message, its body, and the text of the causes an
// adapter wrapped (a URL with a key in it, say):
//   - an [*Error]: its class, status and retry-after ("llm: rate limited
//     (status 429) (retry after 2s)"), or "llm: provider error" with the
//     status for an unclassified one;
//   - an [*InvalidOutputError]: its own text, which names the schema, the
//     attempts and the paths of the problems, never the answer;
//   - a request the caller got wrong, as [Request.Validate] reports it: its
//     text; any other [ErrInvalidRequest]: that class alone;
//   - a context cancelled or past its deadline: that;
//   - a [SafeError] in err's chain: its SafeText;
//   - a connection-level failure: its kind ("network error: connection
//     refused", "network error: the host name was not found", "network
//     error: timed out", a TLS certificate not accepted, ...), never the
//     address or URL;
//   - anything else: its class when it has one, or its Go type only.
//
// It returns "" for nil.
func SafeText(err error) string {
	var e *Error
	var inv *InvalidOutputError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &inv):
		return inv.Error()
	case errors.As(err, &e):
		safe := *e
		safe.Message, safe.Err = "", nil
		return safe.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded: the call timed out"
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	}
	var req *requestError
	if errors.As(err, &req) {
		return req.Error() // the request's own problems, named by field
	}
	var safe SafeError
	if errors.As(err, &safe) {
		return safe.SafeText()
	}
	if class := Class(err); class != nil {
		return class.Error()
	}
	if text := networkText(err); text != "" {
		return text
	}
	return fmt.Sprintf("an error of type %T", err)
}

// networkText names a connection-level failure by its kind — never by the
// address, URL or message it carries — or returns "".
func networkText(err error) string {
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &host), errors.As(err, &invalid):
		return "network error: the server's TLS certificate was not accepted"
	case errors.As(err, &record):
		return "network error: the server did not answer in TLS"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "network error: the host name was not found"
		}
		return "network error: the host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "network error: connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "network error: connection reset by the peer"
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return "network error: the connection was closed"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "network error: the host is unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "network error: the connection closed before the answer was complete"
	case errors.As(err, &ne) && ne.Timeout():
		return "network error: timed out"
	case errors.As(err, &op):
		return "network error: " + op.Op + " failed"
	}
	return ""
}

// Class returns the class of err — one of the Err* sentinels of this
// package that it matches — or nil when it matches none (an unclassified
// [*Error] among them).
func Class(err error) error {
	for _, class := range []error{ErrRateLimited, ErrTransient, ErrRefused, ErrContextTooLong, ErrOutputTruncated,
		ErrInvalidOutput, ErrInvalidRequest} {
		if errors.Is(err, class) {
			return class
		}
	}
	return nil
}

// ErrorType returns a short, stable name of err's kind, for the error.type
// attribute of a metric or a span, where the number of distinct values
// must stay small: "" for nil; "timeout" when a deadline passed (err
// matches [context.DeadlineExceeded], or a network timeout); "canceled";
// the class of a classified error ("rate_limited", "transient", "refused",
// "context_too_long", "output_truncated", "invalid_output",
// "invalid_request"); the HTTP status of an unclassified [*Error] ("401");
// and "_OTHER" for anything else. Nothing of what the provider wrote is in
// it.
func ErrorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	switch Class(err) {
	case ErrRateLimited:
		return "rate_limited"
	case ErrTransient:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "transient"
	case ErrRefused:
		return "refused"
	case ErrContextTooLong:
		return "context_too_long"
	case ErrOutputTruncated:
		return "output_truncated"
	case ErrInvalidOutput:
		return "invalid_output"
	case ErrInvalidRequest:
		return "invalid_request"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var e *Error
	if errors.As(err, &e) && e.StatusCode >= 100 && e.StatusCode <= 599 {
		return strconv.Itoa(e.StatusCode)
	}
	return "_OTHER"
}
