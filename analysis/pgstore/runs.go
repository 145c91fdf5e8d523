package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/internal/pgtext"
)

// runDoc is what a run's doc column holds: what is neither a column nor
// computed.
type runDoc struct {
	Selection analysis.Selection `json:"selection"`
	Trigger   analysis.Trigger   `json:"trigger"`
}

// CreateRun implements [analysis.RunStore].
func (st *Store) CreateRun(ctx context.Context, sc analysis.Scope, r analysis.Run, sel analysis.KeySelection) (analysis.Run, error) {
	if sel.ChunkSize <= 0 {
		return analysis.Run{}, errors.New("pgstore: CreateRun: the chunk size must be above 0")
	}
	if !pgtext.Storable(sc.Tenant, sc.Project, r.DefinitionKey) {
		return analysis.Run{}, analysis.ErrNotFound
	}
	if !pgtext.Storable(r.ID) {
		return analysis.Run{}, fmt.Errorf("pgstore: CreateRun: the run ID is not valid UTF-8 without NUL: %w", analysis.ErrInvalid)
	}
	for _, k := range sel.Keys {
		if !pgtext.Storable(k) {
			return analysis.Run{}, fmt.Errorf("pgstore: CreateRun: selected key %q is not valid UTF-8 without NUL: %w", k, analysis.ErrInvalid)
		}
	}
	if !pgtext.Storable(sel.UnanalyzedBy) {
		sel.UnanalyzedBy = "" // no conversation is analysed by it
	}
	doc, err := pgtext.JSON(runDoc{Selection: r.Selection, Trigger: r.Trigger})
	if err != nil {
		return analysis.Run{}, err
	}
	err = pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		// The definition's row, shared: an update or a delete waits for the
		// run to be created, and sees it.
		var version int64
		err := tx.QueryRow(ctx, `SELECT version FROM `+st.s+`.definitions
			WHERE tenant = $1 AND project = $2 AND key = $3 AND NOT deleted FOR SHARE`,
			sc.Tenant, sc.Project, r.DefinitionKey).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return analysis.ErrNotFound
		}
		if err != nil {
			return err
		}
		if version != r.DefinitionVersion {
			return analysis.ErrConflict
		}
		_, err = tx.Exec(ctx, `INSERT INTO `+st.s+`.runs (tenant, project, id, definition_key, definition_version, status, total, chunks, created_at, doc)
			VALUES ($1, $2, $3, $4, $5, 'pending', 0, 1, $6, $7)`,
			sc.Tenant, sc.Project, r.ID, r.DefinitionKey, r.DefinitionVersion, r.CreatedAt, doc)
		switch constraint(err) {
		case "":
		case "runs_one_active":
			return analysis.ErrRunInProgress
		default:
			return analysis.ErrConflict
		}
		if err != nil {
			return err
		}
		if r.Trigger.Type == analysis.TriggerSchedule && r.Trigger.Slot != nil {
			_, err := tx.Exec(ctx, `INSERT INTO `+st.s+`.slots (tenant, project, definition_key, slot, run_id, at) VALUES ($1, $2, $3, $4, $5, $6)`,
				sc.Tenant, sc.Project, r.DefinitionKey, r.Trigger.Slot.UTC(), r.ID, r.CreatedAt)
			if constraint(err) != "" {
				return analysis.ErrSlotTaken
			}
			if err != nil {
				return err
			}
		}
		total, err := st.selectKeys(ctx, tx, sc, r.ID, sel)
		if err != nil {
			return err
		}
		chunks := max(1, (total+sel.ChunkSize-1)/sel.ChunkSize)
		if _, err := tx.Exec(ctx, `UPDATE `+st.s+`.runs SET total = $4, chunks = $5 WHERE tenant = $1 AND project = $2 AND id = $3`,
			sc.Tenant, sc.Project, r.ID, total, chunks); err != nil {
			return err
		}
		// Each chunk knows its first and last key: its keys are read as a
		// range of the key index, whatever the planner knows of the table.
		_, err = tx.Exec(ctx, `INSERT INTO `+st.s+`.chunks (tenant, project, run_id, chunk, first_key, last_key)
			SELECT $1, $2, $3, n, coalesce(k.first_key, ''), coalesce(k.last_key, '') FROM generate_series(0, $4 - 1) AS n
			LEFT JOIN (SELECT chunk, min(key) AS first_key, max(key) AS last_key FROM `+st.s+`.run_keys
				WHERE tenant = $1 AND project = $2 AND run_id = $3 GROUP BY chunk) k ON k.chunk = n`, sc.Tenant, sc.Project, r.ID, chunks)
		r.Progress.Total = total
		return err
	})
	if err != nil {
		return analysis.Run{}, err
	}
	r.Status = analysis.RunPending
	r.Items = nil
	r.CreatedAt = r.CreatedAt.Truncate(time.Microsecond).UTC() // as stored, and as GetRun returns it
	return r, nil
}

// selectKeys stores the run's selected keys, sorted and cut into chunks,
// and returns their number — without the keys ever leaving the database.
func (st *Store) selectKeys(ctx context.Context, tx pgx.Tx, sc analysis.Scope, runID string, sel analysis.KeySelection) (int, error) {
	insert := `INSERT INTO ` + st.s + `.run_keys (tenant, project, run_id, key, chunk)
		SELECT $1, $2, $3, key, (row_number() OVER (ORDER BY key COLLATE "C") - 1) / $4 FROM `
	if len(sel.Keys) > 0 {
		if len(sel.Keys) > sel.Max {
			return 0, &analysis.SelectionSizeError{Selected: len(sel.Keys), Max: sel.Max}
		}
		tag, err := tx.Exec(ctx, insert+`unnest($5::text[]) AS key`, sc.Tenant, sc.Project, runID, sel.ChunkSize, sel.Keys)
		return int(tag.RowsAffected()), err
	}
	if !pgtext.Storable(sel.Tag) {
		return 0, nil // no conversation has the tag
	}
	where, args := st.conversationFilter(sc, sel.Tag, sel.UnanalyzedBy)
	from := `SELECT c.key FROM ` + st.s + `.conversations c WHERE ` + where
	if sel.SampleSize > 0 {
		args = append(args, strconv.FormatUint(sel.Seed, 10)+":", sel.SampleSize)
		from += ` ORDER BY md5($` + itoa(len(args)-1) + ` || c.key), c.key COLLATE "C" LIMIT $` + itoa(len(args))
	}
	// At most one key past the bound is written: a selection too large is
	// refused without storing it, and counted only then.
	args = append(args, sel.Max+1)
	bounded := `SELECT key FROM (` + from + `) AS sel LIMIT $` + itoa(len(args))
	// Shift the filter's placeholders past the insert's four.
	params := append([]any{sc.Tenant, sc.Project, runID, sel.ChunkSize}, args...)
	tag, err := tx.Exec(ctx, insert+`(`+shiftPlaceholders(bounded, 4)+`) AS sel`, params...)
	if err != nil {
		return 0, err
	}
	n := int(tag.RowsAffected())
	if n > sel.Max {
		var all int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+from+`) AS sel`, args[:len(args)-1]...).Scan(&all); err != nil {
			return 0, err
		}
		return 0, &analysis.SelectionSizeError{Selected: all, Max: sel.Max}
	}
	return n, nil
}

// shiftPlaceholders renumbers $1, $2, ... of sql to $1+by, $2+by, ...
func shiftPlaceholders(sql string, by int) string {
	var b strings.Builder
	for i := 0; i < len(sql); i++ {
		if sql[i] != '$' {
			b.WriteByte(sql[i])
			continue
		}
		j := i + 1
		for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
			j++
		}
		if j == i+1 {
			b.WriteByte('$')
			continue
		}
		n, _ := strconv.Atoi(sql[i+1 : j])
		b.WriteString("$" + itoa(n+by))
		i = j - 1
	}
	return b.String()
}

// runColumns are the columns a run is read from, runs aliased r, with the
// sums of its chunks' counters.
const runColumns = `r.id, r.definition_key, r.definition_version, r.status, r.total, r.created_at, r.started_at, r.finished_at, r.error, r.doc, r.counters,
	s.items, s.completed, s.passed, s.judged, s.judge_sum, s.judge_errors, s.accuracy_count, s.accuracy_sum,
	s.input_tokens, s.output_tokens, s.cached_tokens`

// runSums is the lateral join of runColumns: the sums of the run's items'
// counters — for a run in progress; a finished run's are frozen onto it.
func (st *Store) runSums() string {
	return ` CROSS JOIN LATERAL (SELECT count(*)::bigint AS items, coalesce(sum(completed), 0)::bigint AS completed,
		coalesce(sum(passed), 0)::bigint AS passed, coalesce(sum(judged), 0)::bigint AS judged, coalesce(sum(judge_sum), 0)::bigint AS judge_sum,
		coalesce(sum(judge_errors), 0)::bigint AS judge_errors, coalesce(sum(accuracy_count), 0)::bigint AS accuracy_count,
		coalesce(sum(accuracy_sum), 0)::bigint AS accuracy_sum, coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
		coalesce(sum(output_tokens), 0)::bigint AS output_tokens, coalesce(sum(cached_tokens), 0)::bigint AS cached_tokens
		FROM ` + st.s + `.items i WHERE i.tenant = r.tenant AND i.project = r.project AND i.run_id = r.id AND r.counters IS NULL) s`
}

// scanRun reads a run of a query of runColumns; live reports counters
// summed from its items (a run in progress), whose per-field counts
// fieldCounts adds, as opposed to those frozen when it ended.
func scanRun(row pgx.Row) (r analysis.Run, live bool, err error) {
	var status string
	var doc, frozen []byte
	var c struct{ items, completed, passed, judged, judgeSum, judgeErrors, accCount, accSum, in, out, cached int64 }
	err = row.Scan(&r.ID, &r.DefinitionKey, &r.DefinitionVersion, &status, &r.Progress.Total, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.Error, &doc, &frozen,
		&c.items, &c.completed, &c.passed, &c.judged, &c.judgeSum, &c.judgeErrors, &c.accCount, &c.accSum, &c.in, &c.out, &c.cached)
	if err != nil {
		return r, false, err
	}
	var d runDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return r, false, err
	}
	r.Status, r.Selection, r.Trigger = analysis.RunStatus(status), d.Selection, d.Trigger
	r.CreatedAt = r.CreatedAt.UTC()
	if r.StartedAt != nil {
		t := r.StartedAt.UTC()
		r.StartedAt = &t
	}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		r.FinishedAt = &t
	}
	r.Counters = analysis.Counters{Items: int(c.items), Completed: int(c.completed), Passed: int(c.passed), Judged: int(c.judged),
		JudgeScoreSum: c.judgeSum, JudgeErrors: int(c.judgeErrors), AccuracyCount: int(c.accCount), AccuracySum: c.accSum}
	r.Counters.Usage.InputTokens, r.Counters.Usage.OutputTokens, r.Counters.Usage.CachedInputTokens = c.in, c.out, c.cached
	if frozen != nil {
		r.Counters = analysis.Counters{}
		return r, false, json.Unmarshal(frozen, &r.Counters)
	}
	return r, true, nil
}

// fieldCounts adds the per-field counts of the live runs to them.
func (st *Store) fieldCounts(ctx context.Context, q querier, sc analysis.Scope, runs []analysis.Run, live []bool) error {
	var ids []string
	at := map[string]int{}
	for i, r := range runs {
		if live[i] {
			ids = append(ids, r.ID)
			at[r.ID] = i
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT i.run_id, f.key, sum((f.value->>'compared')::bigint), sum((f.value->>'matched')::bigint)
		FROM `+st.s+`.items i CROSS JOIN LATERAL jsonb_each(i.fields) f
		WHERE i.tenant = $1 AND i.project = $2 AND i.run_id = ANY($3) GROUP BY i.run_id, f.key`, sc.Tenant, sc.Project, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		var compared, matched int64
		if err := rows.Scan(&id, &key, &compared, &matched); err != nil {
			return err
		}
		if compared == 0 && matched == 0 {
			continue
		}
		r := &runs[at[id]]
		if r.Counters.Fields == nil {
			r.Counters.Fields = map[string]analysis.FieldCount{}
		}
		r.Counters.Fields[key] = analysis.FieldCount{Compared: int(compared), Matched: int(matched)}
	}
	return rows.Err()
}

// GetRun implements [analysis.RunStore].
func (st *Store) GetRun(ctx context.Context, sc analysis.Scope, id string) (analysis.Run, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, id) {
		return analysis.Run{}, analysis.ErrNotFound
	}
	r, live, err := scanRun(st.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM `+st.s+`.runs r`+st.runSums()+`
		WHERE r.tenant = $1 AND r.project = $2 AND r.id = $3`, sc.Tenant, sc.Project, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.Run{}, analysis.ErrNotFound
	}
	if err != nil {
		return analysis.Run{}, err
	}
	runs := []analysis.Run{r}
	err = st.fieldCounts(ctx, st.pool, sc, runs, []bool{live})
	return runs[0], err
}

// ListRuns implements [analysis.RunStore].
func (st *Store) ListRuns(ctx context.Context, sc analysis.Scope, q analysis.RunQuery) ([]analysis.Run, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, q.DefinitionKey, string(q.Status)) {
		return []analysis.Run{}, nil
	}
	where := `r.tenant = $1 AND r.project = $2`
	args := []any{sc.Tenant, sc.Project}
	if q.DefinitionKey != "" {
		args = append(args, q.DefinitionKey)
		where += ` AND r.definition_key = $` + itoa(len(args))
	}
	if q.Status != "" {
		args = append(args, string(q.Status))
		where += ` AND r.status = $` + itoa(len(args))
	}
	if !q.FinishedAfter.IsZero() {
		args = append(args, q.FinishedAfter)
		where += ` AND r.finished_at >= $` + itoa(len(args))
	}
	args = append(args, limitOf(q.Limit))
	rows, err := st.pool.Query(ctx, `SELECT `+runColumns+` FROM `+st.s+`.runs r`+st.runSums()+` WHERE `+where+
		` ORDER BY r.created_at DESC, r.id COLLATE "C" LIMIT $`+itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	runs := []analysis.Run{}
	var live []bool
	for rows.Next() {
		r, l, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		runs, live = append(runs, r), append(live, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return runs, st.fieldCounts(ctx, st.pool, sc, runs, live)
}

// runExists reports ErrNotFound for a run the scope does not have.
func (st *Store) runExists(ctx context.Context, q querier, sc analysis.Scope, id string) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, id) {
		return analysis.ErrNotFound
	}
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM `+st.s+`.runs WHERE tenant = $1 AND project = $2 AND id = $3`, sc.Tenant, sc.Project, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.ErrNotFound
	}
	return err
}

// Cursors name their list and run: "i" for items, "k" for keys, then a
// hash of the run's scope and ID, then the position.
func cursorTag(list string, sc analysis.Scope, runID string) string {
	sum := sha256.Sum256([]byte(sc.Tenant + "\x00" + sc.Project + "\x00" + runID))
	return list + hex.EncodeToString(sum[:6])
}

// makeCursor encodes a position with its tag and a check of both, so that
// a cursor changed by hand is told from one the store made.
func makeCursor(tag, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tag + "." + pos + "." + check(tag, pos)))
}

func check(tag, pos string) string {
	sum := sha256.Sum256([]byte(tag + "\x00" + pos))
	return hex.EncodeToString(sum[:6])
}

// readCursor returns the position of a cursor made with tag, or false.
func readCursor(cursor, tag string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(string(raw), tag+".")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 0 || rest[i+1:] != check(tag, rest[:i]) {
		return "", false
	}
	return rest[:i], true
}

// ListRunItems implements [analysis.RunStore].
func (st *Store) ListRunItems(ctx context.Context, sc analysis.Scope, runID string, p analysis.Page) ([]analysis.Item, string, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, runID) {
		return nil, "", analysis.ErrNotFound
	}
	var status string
	err := st.pool.QueryRow(ctx, `SELECT status FROM `+st.s+`.runs WHERE tenant = $1 AND project = $2 AND id = $3`, sc.Tenant, sc.Project, runID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", analysis.ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	// While the run works, only the items of transactions older than every
	// one still running: no item can later appear before them. (A long
	// transaction elsewhere on the server holds them back until it ends.)
	// Once it has finished no item is saved any more: all are read.
	bound := ` AND xid < pg_snapshot_xmin(pg_current_snapshot())`
	if !analysis.RunStatus(status).InProgress() {
		bound = ""
	}
	tag := cursorTag("i", sc, runID)
	xid, seq := "0", int64(0)
	if p.Cursor != "" {
		pos, ok := readCursor(p.Cursor, tag)
		x, s, ok2 := strings.Cut(pos, ".")
		n, err := strconv.ParseInt(s, 10, 64)
		if _, xerr := strconv.ParseUint(x, 10, 64); !ok || !ok2 || err != nil || xerr != nil {
			return nil, "", analysis.ErrInvalid
		}
		xid, seq = x, n
	}
	rows, err := st.pool.Query(ctx, `SELECT doc, xid::text AS xid_text, seq FROM `+st.s+`.items
		WHERE tenant = $1 AND project = $2 AND run_id = $3 AND (xid, seq) > ($4::text::xid8, $5)`+bound+`
		ORDER BY items.xid, items.seq LIMIT $6`, sc.Tenant, sc.Project, runID, xid, seq, limitOf(p.Limit))
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	items := []analysis.Item{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc, &xid, &seq); err != nil {
			return nil, "", err
		}
		it, err := decodeItem(doc)
		if err != nil {
			return nil, "", err
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	return items, makeCursor(tag, xid+"."+strconv.FormatInt(seq, 10)), nil
}

// ListRunKeys implements [analysis.RunStore].
func (st *Store) ListRunKeys(ctx context.Context, sc analysis.Scope, runID string, p analysis.Page) ([]string, string, error) {
	if err := st.runExists(ctx, st.pool, sc, runID); err != nil {
		return nil, "", err
	}
	tag := cursorTag("k", sc, runID)
	after, started := "", false
	if p.Cursor != "" {
		pos, ok := readCursor(p.Cursor, tag)
		if !ok || !pgtext.Storable(pos) {
			return nil, "", analysis.ErrInvalid
		}
		after, started = pos, true
	}
	n := limitOf(p.Limit)
	rows, err := st.pool.Query(ctx, `SELECT key FROM `+st.s+`.run_keys
		WHERE tenant = $1 AND project = $2 AND run_id = $3 AND (NOT $4 OR key > $5)
		ORDER BY key LIMIT $6`, sc.Tenant, sc.Project, runID, started, after, n+1)
	if err != nil {
		return nil, "", err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", err
	}
	if keys == nil {
		keys = []string{}
	}
	if len(keys) > n {
		keys = keys[:n]
		return keys, makeCursor(tag, keys[n-1]), nil
	}
	return keys, "", nil
}

// ClaimChunk implements [analysis.RunStore].
func (st *Store) ClaimChunk(ctx context.Context, owner string, lease time.Duration) (analysis.Claim, bool, error) {
	owner = pgtext.Text(owner)
	for range 5 {
		c, ok, err := st.claim(ctx, owner, lease)
		if !errors.Is(err, errRunEnded) {
			return c, ok, err
		}
	}
	return analysis.Claim{}, false, nil
}

// errRunEnded is a claim that found its run ended under it.
var errRunEnded = errors.New("the run ended")

func (st *Store) claim(ctx context.Context, owner string, lease time.Duration) (analysis.Claim, bool, error) {
	var c analysis.Claim
	found := false
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		now := st.nowSQL()
		var first, last string
		err := tx.QueryRow(ctx, `SELECT c.tenant, c.project, c.run_id, c.chunk, r.definition_key, r.definition_version, c.first_key, c.last_key
			FROM `+st.s+`.chunks c JOIN `+st.s+`.runs r ON r.tenant = c.tenant AND r.project = c.project AND r.id = c.run_id
			WHERE r.status IN ('pending', 'running') AND NOT c.done AND (c.lease_until IS NULL OR c.lease_until <= `+now+`)
			ORDER BY r.created_at, r.id COLLATE "C", c.chunk
			LIMIT 1 FOR UPDATE OF c SKIP LOCKED`).Scan(&c.Scope.Tenant, &c.Scope.Project, &c.RunID, &c.Chunk, &c.DefinitionKey, &c.DefinitionVersion, &first, &last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		// The run becomes running, unless it ended meanwhile: then look
		// again.
		tag, err := tx.Exec(ctx, `UPDATE `+st.s+`.runs SET status = 'running', started_at = coalesce(started_at, `+now+`)
			WHERE tenant = $1 AND project = $2 AND id = $3 AND status IN ('pending', 'running')`, c.Scope.Tenant, c.Scope.Project, c.RunID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errRunEnded
		}
		err = tx.QueryRow(ctx, `UPDATE `+st.s+`.chunks SET token = nextval('`+st.s+`.tokens'), owner = $5, attempts = attempts + 1,
			lease_until = `+now+` + make_interval(secs => $6::double precision / 1e6)
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND chunk = $4 RETURNING token, attempts, lease_until`,
			c.Scope.Tenant, c.Scope.Project, c.RunID, c.Chunk, owner, lease.Microseconds()).Scan(&c.Token, &c.Attempt, &c.ExpiresAt)
		if err != nil {
			return err
		}
		c.ExpiresAt = c.ExpiresAt.UTC()
		// The chunk's keys without an item: two range reads of indexes.
		rows, err := tx.Query(ctx, `SELECT key FROM `+st.s+`.run_keys
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND key BETWEEN $4 AND $5 ORDER BY key`,
			c.Scope.Tenant, c.Scope.Project, c.RunID, first, last)
		if err != nil {
			return err
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT key FROM `+st.s+`.items
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND key BETWEEN $4 AND $5`,
			c.Scope.Tenant, c.Scope.Project, c.RunID, first, last)
		if err != nil {
			return err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		saved := make(map[string]bool, len(done))
		for _, k := range done {
			saved[k] = true
		}
		c.Keys = make([]string, 0, len(keys))
		for _, k := range keys {
			if !saved[k] {
				c.Keys = append(c.Keys, k)
			}
		}
		found = true
		return nil
	})
	if err != nil || !found {
		return analysis.Claim{}, false, err
	}
	return c, true, nil
}

// holds reports ErrLeaseLost unless c holds its chunk: its token is the
// chunk's latest, the lease has not expired, the chunk is not done and the
// run is running. With lock set it locks the chunk's row, so that a claim
// waits for the caller's transaction. A save checks the same in its own
// statement with a share lock (see SaveItem), so that the saves of a
// chunk's many workers never wait for one another, while a claim,
// completion or end of the run waits for a save in flight.
func (st *Store) holds(ctx context.Context, tx pgx.Tx, c analysis.ChunkRef, lock bool) error {
	if !pgtext.Storable(c.Scope.Tenant, c.Scope.Project, c.RunID) {
		return analysis.ErrLeaseLost
	}
	suffix := ""
	if lock {
		suffix = " FOR UPDATE OF c"
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM `+st.s+`.chunks c JOIN `+st.s+`.runs r ON r.tenant = c.tenant AND r.project = c.project AND r.id = c.run_id
		WHERE c.tenant = $1 AND c.project = $2 AND c.run_id = $3 AND c.chunk = $4 AND c.token = $5
		AND NOT c.done AND c.lease_until > `+st.nowSQL()+` AND r.status = 'running'`+suffix,
		c.Scope.Tenant, c.Scope.Project, c.RunID, c.Chunk, c.Token).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return analysis.ErrLeaseLost
	}
	return err
}

// RenewChunk implements [analysis.RunStore].
func (st *Store) RenewChunk(ctx context.Context, c analysis.ChunkRef, lease time.Duration) error {
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.holds(ctx, tx, c, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+st.s+`.chunks SET lease_until = `+st.nowSQL()+` + make_interval(secs => $5::double precision / 1e6)
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND chunk = $4`, c.Scope.Tenant, c.Scope.Project, c.RunID, c.Chunk, lease.Microseconds())
		return err
	})
}

// ReleaseChunk implements [analysis.RunStore].
func (st *Store) ReleaseChunk(ctx context.Context, c analysis.ChunkRef) error {
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.holds(ctx, tx, c, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+st.s+`.chunks SET lease_until = NULL, owner = '', attempts = greatest(attempts - 1, 0)
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND chunk = $4`, c.Scope.Tenant, c.Scope.Project, c.RunID, c.Chunk)
		return err
	})
}

// SaveItem implements [analysis.RunStore].
func (st *Store) SaveItem(ctx context.Context, c analysis.ChunkRef, item analysis.Item, write *analysis.FieldsWrite) error {
	if !pgtext.Storable(c.Scope.Tenant, c.Scope.Project, c.RunID) {
		return analysis.ErrLeaseLost
	}
	if !pgtext.Storable(item.ConversationKey) {
		// Not one of the run's keys — but a lost lease says so first, as
		// for any other key.
		if err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error { return st.holds(ctx, tx, c, false) }); err != nil {
			return err
		}
		return fmt.Errorf("pgstore: conversation %q is not one of the run's: %w", item.ConversationKey, analysis.ErrInvalid)
	}
	doc, err := encodeItem(item)
	if err != nil {
		return err
	}
	counts := analysis.ItemCounters(item)
	fields, err := pgtext.JSON(counts.Fields)
	if err != nil {
		return err
	}
	if counts.Fields == nil {
		fields = []byte("{}")
	}
	var fieldsDoc, at []byte
	if write != nil {
		if fieldsDoc, err = pgtext.JSON(write.Fields); err != nil {
			return err
		}
		if at, err = json.Marshal(write.At); err != nil {
			return err
		}
	}
	// One statement, so one round trip: the claim is checked, and the
	// chunk's row share-locked until the save commits — saves of a chunk's
	// many workers go side by side, while a new claim of the chunk, its
	// completion and the run's end (which lock its row) wait for the saves
	// in flight, so that none lands after them; the key must be the run's;
	// then the item replaces the one saved before, counters and all,
	// keeping its place (xid, seq); the conversation is marked analysed,
	// and its fields written in store mode.
	u := counts.Usage
	var held, known int
	err = st.pool.QueryRow(ctx, `WITH held AS (
			SELECT 1 FROM `+st.s+`.chunks c JOIN `+st.s+`.runs r ON r.tenant = c.tenant AND r.project = c.project AND r.id = c.run_id
			WHERE c.tenant = $1 AND c.project = $2 AND c.run_id = $3 AND c.chunk = $17 AND c.token = $18
			AND NOT c.done AND c.lease_until > `+st.nowSQL()+` AND r.status = 'running'
			FOR KEY SHARE OF c),
		known AS (
			SELECT r.definition_key FROM `+st.s+`.run_keys k JOIN `+st.s+`.runs r ON r.tenant = k.tenant AND r.project = k.project AND r.id = k.run_id
			WHERE k.tenant = $1 AND k.project = $2 AND k.run_id = $3 AND k.key = $4 AND EXISTS (SELECT 1 FROM held)),
		saved AS (
			INSERT INTO `+st.s+`.items (tenant, project, run_id, key, doc, completed, passed, judged, judge_sum,
				judge_errors, accuracy_count, accuracy_sum, input_tokens, output_tokens, cached_tokens, fields)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 FROM known
			ON CONFLICT (tenant, project, run_id, key) DO UPDATE SET doc = EXCLUDED.doc, completed = EXCLUDED.completed,
				passed = EXCLUDED.passed, judged = EXCLUDED.judged, judge_sum = EXCLUDED.judge_sum, judge_errors = EXCLUDED.judge_errors,
				accuracy_count = EXCLUDED.accuracy_count, accuracy_sum = EXCLUDED.accuracy_sum, input_tokens = EXCLUDED.input_tokens,
				output_tokens = EXCLUDED.output_tokens, cached_tokens = EXCLUDED.cached_tokens, fields = EXCLUDED.fields
			RETURNING 1),
		marked AS (
			INSERT INTO `+st.s+`.analysed (tenant, project, definition_key, key)
			SELECT $1, $2, definition_key, $4 FROM known WHERE $19
			ON CONFLICT DO NOTHING RETURNING 1),
		written AS (
			UPDATE `+st.s+`.conversations
			SET doc = jsonb_set(jsonb_set(doc, '{extractedFields}', coalesce(doc->'extractedFields', '{}') || $20::jsonb), '{lastAnalyzedAt}', $21::jsonb)
			WHERE tenant = $1 AND project = $2 AND key = $4 AND $22 AND EXISTS (SELECT 1 FROM known) RETURNING 1)
		SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM known)`,
		c.Scope.Tenant, c.Scope.Project, c.RunID, item.ConversationKey, doc, counts.Completed, counts.Passed, counts.Judged,
		counts.JudgeScoreSum, counts.JudgeErrors, counts.AccuracyCount, counts.AccuracySum, u.InputTokens, u.OutputTokens,
		u.CachedInputTokens, fields, c.Chunk, c.Token, item.Error == "", nullJSON(fieldsDoc), nullJSON(at), write != nil).Scan(&held, &known)
	switch {
	case err != nil:
		return err
	case held == 0:
		return analysis.ErrLeaseLost
	case known == 0:
		return fmt.Errorf("pgstore: conversation %q is not one of the run's: %w", item.ConversationKey, analysis.ErrInvalid)
	}
	return nil
}

// nullJSON is raw, or the JSON null for none.
func nullJSON(raw []byte) []byte {
	if raw == nil {
		return []byte("null")
	}
	return raw
}

// CompleteChunk implements [analysis.RunStore].
func (st *Store) CompleteChunk(ctx context.Context, c analysis.ChunkRef, at time.Time) (bool, error) {
	finished := false
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		// The chunk's row, then the run's — the order of a claim, so that
		// neither waits for the other in a circle. The run's lock makes the
		// completions of its chunks one after another: exactly one sees the
		// last.
		if err := st.holds(ctx, tx, c, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM `+st.s+`.runs WHERE tenant = $1 AND project = $2 AND id = $3 FOR UPDATE`,
			c.Scope.Tenant, c.Scope.Project, c.RunID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+st.s+`.chunks SET done = true, lease_until = NULL
			WHERE tenant = $1 AND project = $2 AND run_id = $3 AND chunk = $4`, c.Scope.Tenant, c.Scope.Project, c.RunID, c.Chunk); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+st.s+`.chunks WHERE tenant = $1 AND project = $2 AND run_id = $3 AND NOT done`,
			c.Scope.Tenant, c.Scope.Project, c.RunID).Scan(&open); err != nil {
			return err
		}
		if open > 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE `+st.s+`.runs SET status = 'completed', finished_at = $4
			WHERE tenant = $1 AND project = $2 AND id = $3 AND status = 'running'`, c.Scope.Tenant, c.Scope.Project, c.RunID, at)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		finished = true
		// Every chunk is done: no item can be saved any more.
		return st.freeze(ctx, tx, c.Scope, c.RunID)
	})
	return finished && err == nil, err
}

// FailRun implements [analysis.RunStore].
func (st *Store) FailRun(ctx context.Context, c analysis.ChunkRef, reason string, at time.Time) error {
	if !pgtext.Storable(c.Scope.Tenant, c.Scope.Project, c.RunID) {
		return analysis.ErrLeaseLost
	}
	reason = pgtext.Text(reason)
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.lockChunks(ctx, tx, c.Scope, c.RunID); err != nil {
			return err
		}
		if err := st.holds(ctx, tx, c, false); err != nil {
			return err
		}
		return st.end(ctx, tx, c.Scope, c.RunID, "failed", reason, at, "'running'")
	})
}

// CancelRun implements [analysis.RunStore].
func (st *Store) CancelRun(ctx context.Context, sc analysis.Scope, runID, reason string, at time.Time) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, runID) {
		return analysis.ErrNotFound
	}
	reason = pgtext.Text(reason)
	errNotRunning := errors.New("not in progress")
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.lockChunks(ctx, tx, sc, runID); err != nil {
			return err
		}
		err := st.end(ctx, tx, sc, runID, "failed", reason, at, "'pending', 'running'")
		if errors.Is(err, pgx.ErrNoRows) {
			err = errNotRunning // nothing to cancel: take back the revocation
		}
		return err
	})
	if !errors.Is(err, errNotRunning) {
		return err
	}
	if err := st.runExists(ctx, st.pool, sc, runID); err != nil {
		return err
	}
	return analysis.ErrConflict
}

// lockChunks locks the run's chunks, in order — the order every ending of
// a run takes them in, so that two never wait for each other in a circle —
// and so waits for the saves in flight.
func (st *Store) lockChunks(ctx context.Context, tx pgx.Tx, sc analysis.Scope, runID string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM `+st.s+`.chunks WHERE tenant = $1 AND project = $2 AND run_id = $3
		ORDER BY chunk FOR UPDATE`, sc.Tenant, sc.Project, runID)
	return err
}

// end ends the run, if its status is one of from, with status and the
// reason, at the given time: its leases are revoked and the counters of
// its items frozen onto it (no item can be saved after); pgx.ErrNoRows when
// the run's status is not one of from. The caller holds its chunks' rows.
func (st *Store) end(ctx context.Context, tx pgx.Tx, sc analysis.Scope, runID, status, reason string, at time.Time, from string) error {
	if err := st.revokeLeases(ctx, tx, sc, runID); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE `+st.s+`.runs SET status = $4, error = $5, finished_at = $6
		WHERE tenant = $1 AND project = $2 AND id = $3 AND status IN (`+from+`)`, sc.Tenant, sc.Project, runID, status, reason, at)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return st.freeze(ctx, tx, sc, runID)
}

// freeze writes the sums of the run's items onto its row: a finished run
// is read without summing its items again.
func (st *Store) freeze(ctx context.Context, tx pgx.Tx, sc analysis.Scope, runID string) error {
	r, _, err := scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM `+st.s+`.runs r`+st.runSums()+`
		WHERE r.tenant = $1 AND r.project = $2 AND r.id = $3`, sc.Tenant, sc.Project, runID))
	if err != nil {
		return err
	}
	runs := []analysis.Run{r}
	if err := st.fieldCounts(ctx, tx, sc, runs, []bool{true}); err != nil {
		return err
	}
	frozen, err := json.Marshal(runs[0].Counters)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE `+st.s+`.runs SET counters = $4 WHERE tenant = $1 AND project = $2 AND id = $3`,
		sc.Tenant, sc.Project, runID, frozen)
	return err
}

// revokeLeases ends the leases of the run's chunks. Its row locks wait for
// the writes in flight under them, so that no write lands after the run
// ended.
func (st *Store) revokeLeases(ctx context.Context, tx pgx.Tx, sc analysis.Scope, runID string) error {
	_, err := tx.Exec(ctx, `UPDATE `+st.s+`.chunks SET lease_until = NULL
		WHERE tenant = $1 AND project = $2 AND run_id = $3 AND lease_until IS NOT NULL`, sc.Tenant, sc.Project, runID)
	return err
}

// SkipSlot implements [analysis.RunStore].
func (st *Store) SkipSlot(ctx context.Context, sc analysis.Scope, definitionKey string, slot time.Time, reason string, at time.Time) error {
	if !pgtext.Storable(sc.Tenant, sc.Project, definitionKey) {
		return fmt.Errorf("pgstore: SkipSlot: the scope and definition key must be valid UTF-8 without NUL: %w", analysis.ErrInvalid)
	}
	reason = pgtext.Text(reason)
	_, err := st.pool.Exec(ctx, `INSERT INTO `+st.s+`.slots (tenant, project, definition_key, slot, skipped, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		sc.Tenant, sc.Project, definitionKey, slot.UTC(), reason, at)
	if constraint(err) != "" {
		return analysis.ErrSlotTaken
	}
	return err
}

// ListSlots implements [analysis.RunStore].
func (st *Store) ListSlots(ctx context.Context, sc analysis.Scope, definitionKey string, limit int) ([]analysis.SlotRecord, error) {
	if !pgtext.Storable(sc.Tenant, sc.Project, definitionKey) {
		return []analysis.SlotRecord{}, nil
	}
	rows, err := st.pool.Query(ctx, `SELECT slot, run_id, skipped, at FROM `+st.s+`.slots
		WHERE tenant = $1 AND project = $2 AND definition_key = $3 ORDER BY slot DESC LIMIT $4`, sc.Tenant, sc.Project, definitionKey, limitOf(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []analysis.SlotRecord{}
	for rows.Next() {
		var s analysis.SlotRecord
		if err := rows.Scan(&s.Slot, &s.RunID, &s.Skipped, &s.At); err != nil {
			return nil, err
		}
		s.Slot, s.At = s.Slot.UTC(), s.At.UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}
