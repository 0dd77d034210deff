package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// ConversationMessage is one stored message of a project's conversation with
// the model; Content is the JSON of its blocks, which the store does not read.
type ConversationMessage struct {
	Seq       int64
	RunID     string
	Role      string
	Content   json.RawMessage
	CreatedAt time.Time
}

// Conversation returns a project's conversation, oldest message first.
func (s *Store) Conversation(ctx context.Context, projectID string) ([]ConversationMessage, error) {
	rows, err := s.q.ConversationByProject(ctx, projectID)
	if err != nil {
		return nil, wrap(err, "conversation of project %s", projectID)
	}
	out := make([]ConversationMessage, len(rows))
	for i, r := range rows {
		out[i] = ConversationMessage{Seq: r.Seq, RunID: r.RunID, Role: r.Role, Content: json.RawMessage(r.Content), CreatedAt: fromMillis(r.CreatedAt)}
	}
	return out, nil
}

// AppendConversation adds msgs of run runID after the project's last
// message, all or none.
func (s *Store) AppendConversation(ctx context.Context, projectID, runID string, msgs []ConversationMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(_ *sql.Tx, q sqlitedb.Querier) error {
		seq, err := q.LastConversationSeq(ctx, projectID)
		if err != nil {
			return err
		}
		now := toMillis(time.Now())
		for _, m := range msgs {
			seq++
			if err := q.AppendConversationMessage(ctx, sqlitedb.AppendConversationMessageParams{
				ProjectID: projectID, Seq: seq, RunID: runID, Role: m.Role, Content: string(m.Content), CreatedAt: now,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "append conversation of project %s", projectID)
}

// Usage kinds: feature work and fix attempts are counted apart.
const (
	UsageFeature = "feature"
	UsageFix     = "fix"
)

// ModelUsage is the usage of one model call.
type ModelUsage struct {
	RunID, ProjectID, UserID string
	Model                    string
	Kind                     string
	InputTokens              int64
	OutputTokens             int64
	CacheCreationTokens      int64
	CacheReadTokens          int64
	// CostMicros is the cost in millionths of a US dollar.
	CostMicros int64
	CreatedAt  time.Time
}

// AddModelUsage records one model call.
func (s *Store) AddModelUsage(ctx context.Context, u ModelUsage) error {
	err := s.q.AddModelUsage(ctx, sqlitedb.AddModelUsageParams{
		ID: uuid.Must(uuid.NewV7()).String(), RunID: u.RunID, ProjectID: u.ProjectID, UserID: u.UserID,
		Model: u.Model, Kind: u.Kind, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		CacheCreationTokens: u.CacheCreationTokens, CacheReadTokens: u.CacheReadTokens,
		CostMicros: u.CostMicros, CreatedAt: toMillis(u.CreatedAt),
	})
	return wrap(err, "add model usage of run %s", u.RunID)
}

// UsageTotal sums usage of one kind.
type UsageTotal struct {
	Kind                string `json:"kind"`
	InputTokens         int64  `json:"inputTokens"`
	OutputTokens        int64  `json:"outputTokens"`
	CacheCreationTokens int64  `json:"cacheCreationInputTokens"`
	CacheReadTokens     int64  `json:"cacheReadInputTokens"`
	CostMicros          int64  `json:"costMicros"`
}

// UsageByRun sums a run's usage by kind.
func (s *Store) UsageByRun(ctx context.Context, runID string) ([]UsageTotal, error) {
	rows, err := s.q.UsageByRun(ctx, runID)
	if err != nil {
		return nil, wrap(err, "usage of run %s", runID)
	}
	out := make([]UsageTotal, len(rows))
	for i, r := range rows {
		out[i] = UsageTotal(r)
	}
	return out, nil
}

// UsageByProject sums a project's usage by kind.
func (s *Store) UsageByProject(ctx context.Context, projectID string) ([]UsageTotal, error) {
	rows, err := s.q.UsageByProject(ctx, projectID)
	if err != nil {
		return nil, wrap(err, "usage of project %s", projectID)
	}
	out := make([]UsageTotal, len(rows))
	for i, r := range rows {
		out[i] = UsageTotal(r)
	}
	return out, nil
}

// UserCostSince is what a user's model calls cost since t, in micro-dollars.
func (s *Store) UserCostSince(ctx context.Context, userID string, t time.Time) (int64, error) {
	c, err := s.q.UserCostSince(ctx, sqlitedb.UserCostSinceParams{UserID: userID, Since: toMillis(t)})
	return c, wrap(err, "cost of user %s", userID)
}

// SetProjectModel sets the model id a project's runs use ("" for the
// server's default), or returns ErrNotFound.
func (s *Store) SetProjectModel(ctx context.Context, projectID, model string) error {
	n, err := s.q.SetProjectModel(ctx, sqlitedb.SetProjectModelParams{Model: model, ID: projectID})
	if err != nil {
		return wrap(err, "set model of project %s", projectID)
	}
	if n == 0 {
		return wrap(ErrNotFound, "set model of project %s", projectID)
	}
	return nil
}
