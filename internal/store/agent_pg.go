package store

import (
	"context"

	"github.com/quickvibe/quickvibe/internal/store/pgdb"
	"github.com/quickvibe/quickvibe/internal/store/sqlitedb"
)

// pgQuerier conversions of the agent queries (agent.go).

func (q pgQuerier) ConversationByProject(ctx context.Context, projectID string) ([]sqlitedb.ConversationMessage, error) {
	rs, err := q.Queries.ConversationByProject(ctx, projectID)
	return convertAll(rs, err, func(r pgdb.ConversationMessage) sqlitedb.ConversationMessage { return sqlitedb.ConversationMessage(r) })
}

func (q pgQuerier) AppendConversationMessage(ctx context.Context, arg sqlitedb.AppendConversationMessageParams) error {
	return q.Queries.AppendConversationMessage(ctx, pgdb.AppendConversationMessageParams(arg))
}

func (q pgQuerier) AddModelUsage(ctx context.Context, arg sqlitedb.AddModelUsageParams) error {
	return q.Queries.AddModelUsage(ctx, pgdb.AddModelUsageParams(arg))
}

func (q pgQuerier) UsageByRun(ctx context.Context, runID string) ([]sqlitedb.UsageByRunRow, error) {
	rs, err := q.Queries.UsageByRun(ctx, runID)
	return convertAll(rs, err, func(r pgdb.UsageByRunRow) sqlitedb.UsageByRunRow { return sqlitedb.UsageByRunRow(r) })
}

func (q pgQuerier) UsageByProject(ctx context.Context, projectID string) ([]sqlitedb.UsageByProjectRow, error) {
	rs, err := q.Queries.UsageByProject(ctx, projectID)
	return convertAll(rs, err, func(r pgdb.UsageByProjectRow) sqlitedb.UsageByProjectRow { return sqlitedb.UsageByProjectRow(r) })
}

func (q pgQuerier) UserCostSince(ctx context.Context, arg sqlitedb.UserCostSinceParams) (int64, error) {
	return q.Queries.UserCostSince(ctx, pgdb.UserCostSinceParams(arg))
}

func (q pgQuerier) SetProjectModel(ctx context.Context, arg sqlitedb.SetProjectModelParams) (int64, error) {
	return q.Queries.SetProjectModel(ctx, pgdb.SetProjectModelParams(arg))
}
