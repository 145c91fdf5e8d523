package analysishttp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/analysis/analysishttp"
)

const conversationsPath = analysishttp.Prefix + "/conversations"

// withExternalIDs is a bulk body of conversations with the external IDs
// given, each saying says.
func withExternalIDs(says string, exts ...string) string {
	var convs []string
	for _, ext := range exts {
		convs = append(convs, fmt.Sprintf(`{"externalId":%q,"name":"Call %s","transcript":[{"role":"caller","content":%q}]}`, ext, ext, says))
	}
	return `{"conversations":[` + strings.Join(convs, ",") + `]}`
}

func counts(body map[string]any) [3]float64 {
	return [3]float64{body["created"].(float64), body["updated"].(float64), body["skipped"].(float64)}
}

func TestASingleIngestAnswers201WhenCreatedAnd200WhenStored(t *testing.T) {
	e := newEnv(t)
	one := `{"externalId":"crm-1","name":"Call 1","transcript":[{"role":"caller","content":"first"}]}`
	resp, body := e.call(t, "POST", conversationsPath, scopeA, one)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	created := body["conversation"].(map[string]any)
	assert.Equal(t, "crm-1", created["externalId"])
	assert.Equal(t, conversationsPath+"/"+created["id"].(string), resp.Header.Get("Location"))

	resp, body = e.call(t, "POST", conversationsPath, scopeA, strings.Replace(one, "first", "second", 1))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	updated := body["conversation"].(map[string]any)
	assert.Equal(t, created["id"], updated["id"], "the stored conversation, updated")
	assert.Equal(t, created["key"], updated["key"])
	assert.Equal(t, "second", updated["transcript"].([]any)[0].(map[string]any)["content"])
	assert.Empty(t, resp.Header.Get("Location"), "nothing new to locate")
	assert.Equal(t, "updated", body["action"])

	resp, body = e.call(t, "POST", conversationsPath+"?onExisting=skip", scopeA, strings.Replace(one, "first", "third", 1))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	skipped := body["conversation"].(map[string]any)
	assert.Equal(t, "skipped", body["action"], "the answer says which")
	assert.Equal(t, "second", skipped["transcript"].([]any)[0].(map[string]any)["content"], "skipped: as it was")
	resp, body = e.call(t, "POST", conversationsPath+"?onExisting=update", scopeA, strings.Replace(one, "first", "fourth", 1))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", body)
	assert.Equal(t, "fourth", body["conversation"].(map[string]any)["transcript"].([]any)[0].(map[string]any)["content"])

	// Another scope's same external ID is another conversation.
	resp, body = e.call(t, "POST", conversationsPath, scopeB, one)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.NotEqual(t, created["id"], body["conversation"].(map[string]any)["id"])

	_, list := e.call(t, "GET", conversationsPath, scopeA, "")
	assert.Len(t, list["conversations"], 1, "one conversation for one external ID")
}

func TestABulkIngestCountsWhatBecameOfEachConversation(t *testing.T) {
	e := newEnv(t)
	exts := make([]string, 300)
	for i := range exts {
		exts[i] = fmt.Sprint("crm-", i)
	}
	resp, body := e.call(t, "POST", conversationsPath, scopeA, withExternalIDs("first", exts...))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, [3]float64{300, 0, 0}, counts(body))
	firstKeys := keysOf(body)

	resp, body = e.call(t, "POST", conversationsPath, scopeA, withExternalIDs("second", exts...))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, [3]float64{0, 300, 0}, counts(body), "the same 300 again: all updated")
	assert.Equal(t, firstKeys, keysOf(body), "in the order given, with their keys")

	resp, body = e.call(t, "POST", conversationsPath+"?onExisting=skip", scopeA, withExternalIDs("third", "crm-0", "crm-new", "crm-1"))
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, [3]float64{1, 0, 2}, counts(body))
	convs := body["conversations"].([]any)
	assert.Equal(t, "second", convs[0].(map[string]any)["transcript"].([]any)[0].(map[string]any)["content"], "skipped: as stored")
	assert.Equal(t, "third", convs[1].(map[string]any)["transcript"].([]any)[0].(map[string]any)["content"])

	count := 0
	for cursor := ""; ; {
		_, page := e.call(t, "GET", conversationsPath+"?limit=100&cursor="+cursor, scopeA, "")
		count += len(page["conversations"].([]any))
		next, ok := page["nextCursor"].(string)
		if !ok {
			break
		}
		cursor = next
	}
	assert.Equal(t, 301, count, "300 re-ingested once, and one new")

	// A bulk body without external IDs still counts what it created.
	resp, body = e.call(t, "POST", conversationsPath, scopeA, bulkJSON)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	assert.Equal(t, [3]float64{2, 0, 0}, counts(body))
}

func keysOf(body map[string]any) []string {
	var keys []string
	for _, c := range body["conversations"].([]any) {
		keys = append(keys, c.(map[string]any)["key"].(string))
	}
	return keys
}

func TestIngestRefusesAModeItDoesNotKnow(t *testing.T) {
	e := newEnv(t)
	for query, message := range map[string]string{
		"?onExisting=merge":                     "not update or skip",
		"?onExisting=":                          "not update or skip",
		"?onExisting=SKIP":                      "not update or skip",
		"?onExisting=skip&onExisting=update":    "given more than once",
		"?onExisting=skip&onExistingTypo=1":     "unknown query parameter",
		"?onExisting=update&onExisting=update":  "given more than once",
		"?onExisting=skip&onExisting=":          "given more than once",
		"?onExisting=%20skip":                   "not update or skip",
		"?onExisting=upd%00ate":                 "not update or skip",
		"?onExisting=update&search=ignored-not": "unknown query parameter",
	} {
		resp, body := e.call(t, "POST", conversationsPath+query, scopeA, withExternalIDs("x", "crm-1"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %v", query, body)
		problems := body["problems"].([]any)
		require.NotEmpty(t, problems, query)
		names := []string{}
		for _, p := range problems {
			names = append(names, p.(map[string]any)["path"].(string))
		}
		if message == "unknown query parameter" {
			assert.NotContains(t, names, "onExisting", query)
		} else {
			assert.Equal(t, []string{"onExisting"}, names, "%s: the problem names the parameter", query)
		}
		assert.Equal(t, message, problems[0].(map[string]any)["message"], query)
	}
	_, list := e.call(t, "GET", conversationsPath, scopeA, "")
	assert.Empty(t, list["conversations"], "nothing refused was stored")
}

func TestIngestAnswers409ForAKeyThatDiffersFromTheStoredOne(t *testing.T) {
	e := newEnv(t)
	resp, body := e.call(t, "POST", conversationsPath, scopeA, `{"externalId":"crm-1","key":"call-1","transcript":[{"role":"caller","content":"x"}]}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%v", body)
	resp, body = e.call(t, "POST", conversationsPath, scopeA, `{"conversations":[{"externalId":"crm-1","key":"renamed","transcript":[{"role":"caller","content":"x"}]}]}`)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "%v", body)
	assert.Equal(t, "conflict", body["error"])
	assert.Contains(t, body["message"], `$.conversations[0].key: the conversation with external ID "crm-1" is stored with the key "call-1"`)
	resp, body = e.call(t, "POST", conversationsPath, scopeA, `{"externalId":"crm-1","key":"call-1","transcript":[{"role":"caller","content":"y"}]}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the stored key given again: %v", body)
	resp, body = e.call(t, "POST", conversationsPath, scopeA, `{"conversations":[{"externalId":"crm-2","transcript":[{"role":"caller","content":"x"}]},{"externalId":"crm-2","transcript":[{"role":"caller","content":"x"}]}]}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%v", body)
	assert.Equal(t, []any{map[string]any{"path": "$.conversations[1].externalId", "message": `"crm-2" is also the external ID of conversation 0`}}, body["problems"])
}
