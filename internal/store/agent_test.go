package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/quickvibe/quickvibe/internal/store"
)

func TestConversationAndUsage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		addUser(t, s, "u1")
		addUser(t, s, "u2")
		addProject(t, s, "p1", "u1", t0)
		addRun(t, s, "r1", "p1", "u1", t0)

		check(t, "append 1", s.AppendConversation(ctx, "p1", "r1", []store.ConversationMessage{
			{Role: "user", Content: json.RawMessage(`[{"type":"text","text":"a page"}]`)},
			{Role: "assistant", Content: json.RawMessage(`[{"type":"text","text":"done"}]`)},
		}))
		check(t, "append 2", s.AppendConversation(ctx, "p1", "r1", []store.ConversationMessage{
			{Role: "user", Content: json.RawMessage(`[{"type":"text","text":"dark mode"}]`)},
		}))
		msgs, err := s.Conversation(ctx, "p1")
		check(t, "Conversation", err)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Role+" "+string(m.Content))
		}
		want := []string{`user [{"type":"text","text":"a page"}]`, `assistant [{"type":"text","text":"done"}]`, `user [{"type":"text","text":"dark mode"}]`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("conversation (-want +got):\n%s", diff)
		}
		if msgs[2].Seq != 3 {
			t.Errorf("seq = %d, want 3", msgs[2].Seq)
		}

		now := time.Now()
		for _, u := range []store.ModelUsage{
			{RunID: "r1", ProjectID: "p1", UserID: "u1", Model: "m", Kind: store.UsageFeature, InputTokens: 100, OutputTokens: 10, CostMicros: 1500, CreatedAt: now},
			{RunID: "r1", ProjectID: "p1", UserID: "u1", Model: "m", Kind: store.UsageFix, InputTokens: 50, OutputTokens: 5, CacheReadTokens: 7, CostMicros: 700, CreatedAt: now},
			{RunID: "r1", ProjectID: "p1", UserID: "u1", Model: "m", Kind: store.UsageFeature, InputTokens: 1, OutputTokens: 1, CostMicros: 10, CreatedAt: now.AddDate(0, -2, 0)},
		} {
			check(t, "AddModelUsage", s.AddModelUsage(ctx, u))
		}
		byRun, err := s.UsageByRun(ctx, "r1")
		check(t, "UsageByRun", err)
		wantRun := []store.UsageTotal{
			{Kind: "feature", InputTokens: 101, OutputTokens: 11, CostMicros: 1510},
			{Kind: "fix", InputTokens: 50, OutputTokens: 5, CacheReadTokens: 7, CostMicros: 700},
		}
		if diff := cmp.Diff(wantRun, byRun); diff != "" {
			t.Errorf("UsageByRun (-want +got):\n%s", diff)
		}
		byProject, err := s.UsageByProject(ctx, "p1")
		check(t, "UsageByProject", err)
		if diff := cmp.Diff(wantRun, byProject); diff != "" {
			t.Errorf("UsageByProject (-want +got):\n%s", diff)
		}
		month, err := s.UserCostSince(ctx, "u1", now.AddDate(0, -1, 0))
		check(t, "UserCostSince", err)
		if month != 2200 {
			t.Errorf("cost this month = %d, want 2200", month)
		}
		other, err := s.UserCostSince(ctx, "u2", time.Time{})
		check(t, "UserCostSince u2", err)
		if other != 0 {
			t.Errorf("cost of u2 = %d, want 0", other)
		}
		check(t, "SetProjectModel", s.SetProjectModel(ctx, "p1", "claude-haiku-4-5"))
		checkErr(t, "SetProjectModel missing", s.SetProjectModel(ctx, "nope", "x"), store.ErrNotFound)
	})
}
