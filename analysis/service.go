package analysis

import (
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/debrief-go/debrief/extract"
	"github.com/debrief-go/debrief/internal/uuid"
	"github.com/debrief-go/debrief/schedule"
	"github.com/debrief-go/debrief/session"
)

// Defaults of a [Config].
const (
	DefaultMaxRunConversations = 100_000
	DefaultChunkSize           = 50
	DefaultMaxInlineItems      = 1000
	// MaxChunkSize and MaxMaxInlineItems bound the batches of a run a
	// process may be asked to hold at once.
	MaxChunkSize        = 1000
	MaxMaxInlineItems   = 10_000
	DefaultListLimit    = 100
	DefaultMaxListLimit = 1000
	DefaultMaxIngest    = 5000
	// DefaultMaxIngestBytes and DefaultMaxConversationBytes bound an
	// ingest body and each of its conversations.
	DefaultMaxIngestBytes       = 32 << 20
	DefaultMaxConversationBytes = 2 << 20
)

// Config configures a [Service]. Only Store is required.
type Config struct {
	// Store keeps everything.
	Store Store
	// Clock tells the time; default [schedule.SystemClock].
	Clock schedule.Clock
	// NewID returns a new unique ID; default a random UUID (version 4).
	NewID func() string
	// NewSeed returns the seed of a random selection; default a random
	// number. The seed is recorded on the run.
	NewSeed func() uint64
	// MaxRunConversations bounds the conversations of one run; default
	// [DefaultMaxRunConversations]. A selection that would exceed it is
	// refused, never silently cut.
	MaxRunConversations int
	// ChunkSize is how many conversations a chunk of a run holds — the unit
	// of work an executor claims; default [DefaultChunkSize], at most
	// [MaxChunkSize]. Smaller chunks
	// spread a small run over more executors; larger ones cost fewer claims.
	ChunkSize int
	// MaxInlineItems bounds the items [Service.GetRun] returns with a run;
	// the rest are read with [Service.ListRunItems]. Default
	// [DefaultMaxInlineItems], at most [MaxMaxInlineItems].
	MaxInlineItems int
	// DefaultListLimit is the limit of a list call that sets none; default
	// [DefaultListLimit]. MaxListLimit caps any limit asked for; default
	// [DefaultMaxListLimit].
	DefaultListLimit, MaxListLimit int
	// MaxIngest bounds the conversations of one ingest call; default
	// [DefaultMaxIngest].
	MaxIngest int
	// MaxIngestBytes bounds the body of one [Service.Ingest] call; default
	// [DefaultMaxIngestBytes] (32 MiB). MaxConversationBytes bounds each
	// conversation of it, as JSON; default [DefaultMaxConversationBytes]
	// (2 MiB).
	MaxIngestBytes, MaxConversationBytes int
	// DefaultExtractionModelKey and DefaultJudgeModelKey are given to a
	// definition created or changed without an extractionModelKey, or
	// with modes.judge and without a judgeModelKey, and stored on it.
	DefaultExtractionModelKey, DefaultJudgeModelKey string
	// Redactor, when set, rewrites the text of every conversation ingested
	// — its name, its turns and the free text of its evidence — before
	// anything is stored or sent to a model ([session.DefaultRedactor]
	// replaces e-mail addresses, phone and card numbers); reference fields,
	// keys, tags and IDs are left alone. Default none.
	Redactor session.Redactor
	// Wake, when set, is called after a run is created, so that an
	// in-process [Executor] takes it up at once (pass [Executor.Wake]).
	Wake func()
	// Logger receives the service's records; default none.
	Logger *slog.Logger
}

// A Service is debrief's analysis API: definitions, conversations, runs and
// alerts, each call scoped to a tenant and project. It validates every
// input, reporting every problem with its JSON path, before anything
// reaches the store. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// NewService returns a service over cfg.Store.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("analysis: NewService: a Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = schedule.SystemClock{}
	}
	if cfg.NewID == nil {
		cfg.NewID = NewUUID
	}
	if cfg.NewSeed == nil {
		cfg.NewSeed = mrand.Uint64
	}
	if cfg.MaxRunConversations <= 0 {
		cfg.MaxRunConversations = DefaultMaxRunConversations
	}
	if cfg.ChunkSize > MaxChunkSize {
		return nil, fmt.Errorf("analysis: NewService: a chunk of %d conversations is more than %d", cfg.ChunkSize, MaxChunkSize)
	}
	if cfg.MaxInlineItems > MaxMaxInlineItems {
		return nil, fmt.Errorf("analysis: NewService: %d inline items are more than %d", cfg.MaxInlineItems, MaxMaxInlineItems)
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.MaxInlineItems <= 0 {
		cfg.MaxInlineItems = DefaultMaxInlineItems
	}
	if cfg.DefaultListLimit <= 0 {
		cfg.DefaultListLimit = DefaultListLimit
	}
	if cfg.MaxListLimit <= 0 {
		cfg.MaxListLimit = DefaultMaxListLimit
	}
	cfg.DefaultListLimit = min(cfg.DefaultListLimit, cfg.MaxListLimit)
	if cfg.MaxIngest <= 0 {
		cfg.MaxIngest = DefaultMaxIngest
	}
	if cfg.MaxIngestBytes <= 0 {
		cfg.MaxIngestBytes = DefaultMaxIngestBytes
	}
	if cfg.MaxConversationBytes <= 0 {
		cfg.MaxConversationBytes = DefaultMaxConversationBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg}, nil
}

// NewUUID returns a random UUID (version 4) from crypto/rand.
func NewUUID() string { return uuid.New() }

// MaxIngestBytes returns the most bytes one ingest body may hold
// ([Config.MaxIngestBytes], or its default), so that an API in front of the
// service can refuse a larger body before reading it.
func (s *Service) MaxIngestBytes() int { return s.cfg.MaxIngestBytes }

// limit turns a requested list limit into the one applied: the default for
// 0, capped at the maximum; a negative limit is invalid.
func (s *Service) limit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("$.limit", fmt.Sprintf("%d is negative", n))
	case n == 0:
		return s.cfg.DefaultListLimit, nil
	}
	return min(n, s.cfg.MaxListLimit), nil
}

// invalid returns a validation error with one problem.
func invalid(path, msg string) error {
	return &extract.ValidationError{Problems: []extract.Problem{{Index: -1, Path: path, Message: msg}}}
}

// MaxReportedProblems bounds the problems a validation error lists; a
// last problem at "$" says how many more there were ("and 12 more
// problems"). Problems past the bound are counted, not kept, so that a
// hostile body cannot make the error grow with its size.
const MaxReportedProblems = 100

// problems collects validation problems, at most MaxReportedProblems.
type problems struct {
	list    []extract.Problem
	dropped int
}

func (p *problems) push(pr extract.Problem) {
	if len(p.list) >= MaxReportedProblems {
		p.dropped++
		return
	}
	// A problem may quote what it is about (a key, a value): each is cut
	// short, so that the error stays small whatever the body.
	pr.Path, pr.Message = clip(pr.Path, maxProblemPathLen), clip(pr.Message, maxProblemMessageLen)
	p.list = append(p.list, pr)
}

// The bytes of a problem's path and message an error keeps.
const (
	maxProblemPathLen    = 512
	maxProblemMessageLen = 512
)

// count returns the problems found, those past the bound included.
func (p *problems) count() int { return len(p.list) + p.dropped }

func (p *problems) add(index int, path, msg string) {
	p.push(extract.Problem{Index: index, Path: path, Message: msg})
}

// merge adds the problems of err, a validation error, rebased under root
// and — when index ≥ 0 — attributed to index (a bulk body's conversation,
// say); with a negative index they keep their own (a field's, a turn's).
// Any other error is returned.
func (p *problems) merge(err error, index int, root string) error {
	if err == nil {
		return nil
	}
	var ve *extract.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	for _, pr := range ve.Problems {
		if n, ok := moreProblems(pr); ok { // the count of another capped list
			p.dropped += n
			continue
		}
		pr = (&extract.ValidationError{Problems: []extract.Problem{pr}}).Under(root).Problems[0]
		if index >= 0 {
			pr.Index = index
		}
		p.push(pr)
	}
	return nil
}

// moreProblems reads the last problem of a capped list.
func moreProblems(pr extract.Problem) (int, bool) {
	var n int
	if pr.Index != -1 || pr.Path != "$" || !strings.HasPrefix(pr.Message, "and ") || !strings.HasSuffix(pr.Message, " more problems") {
		return 0, false
	}
	_, err := fmt.Sscanf(pr.Message, "and %d more problems", &n)
	return n, err == nil
}

func (p *problems) err() error {
	if len(p.list) == 0 && p.dropped == 0 {
		return nil
	}
	list := p.list
	if p.dropped > 0 {
		list = append(list[:len(list):len(list)], extract.Problem{Index: -1, Path: "$", Message: fmt.Sprintf("and %d more problems", p.dropped)})
	}
	return &extract.ValidationError{Problems: list}
}

// KeyPattern is the grammar of definition and conversation keys: lower-case
// letters, digits and dashes, starting with a letter or digit, at most 128
// bytes.
const KeyPattern = `^[a-z0-9][a-z0-9-]{0,127}$`

var keyRE = regexp.MustCompile(KeyPattern)

// Slugify turns a name into a key: accents dropped, lower case, every run of
// other characters a single dash, no dash at either end, at most 64 bytes
// (cut at a dash when a word would be split). It returns "" when nothing of
// the name survives (a name in a script without Latin letters, say);
// callers then generate a key.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(unicode.ToLower(r))
		default:
			dash = true
		}
	}
	slug := b.String()
	if len(slug) > 64 {
		cut := slug[:64]
		if slug[64] != '-' {
			if i := strings.LastIndexByte(cut, '-'); i > 0 {
				cut = cut[:i]
			}
		}
		slug = strings.TrimRight(cut, "-")
	}
	return slug
}

// withSuffix returns key with "-n" appended, keeping the result within the
// key grammar's length.
func withSuffix(key string, n int) string {
	suffix := fmt.Sprintf("-%d", n)
	if len(key)+len(suffix) > 128 {
		key = strings.TrimRight(key[:128-len(suffix)], "-")
	}
	return key + suffix
}
