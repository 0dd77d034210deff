package client

import (
	"context"
	"net/http"
	"net/url"
)

// Spend is what model calls used and cost, by kind and in all.
type Spend struct {
	Kinds []struct {
		Kind         string  `json:"kind"`
		InputTokens  int64   `json:"inputTokens"`
		OutputTokens int64   `json:"outputTokens"`
		CostUSD      float64 `json:"costUsd"`
	} `json:"kinds"`
	CostUSD    float64 `json:"costUsd"`
	FixCostUSD float64 `json:"fixCostUsd"`
}

// RunSpend is a run's usage.
func (c *Client) RunSpend(ctx context.Context, runID string) (Spend, error) {
	var out Spend
	err := c.call(ctx, http.MethodGet, "/api/runs/"+url.PathEscape(runID)+"/usage", nil, &out)
	return out, err
}

// ProjectSpend is a project's usage.
func (c *Client) ProjectSpend(ctx context.Context, projectID string) (Spend, error) {
	var out Spend
	err := c.call(ctx, http.MethodGet, "/api/projects/"+url.PathEscape(projectID)+"/usage", nil, &out)
	return out, err
}

// MonthSpend is the caller's spending this month and the limits.
type MonthSpend struct {
	CostUSD           float64 `json:"costUsd"`
	MaxMonthlyCostUSD float64 `json:"maxMonthlyCostUsd"`
	MaxRunCostUSD     float64 `json:"maxRunCostUsd"`
}

// MySpend is the caller's spending this month.
func (c *Client) MySpend(ctx context.Context) (MonthSpend, error) {
	var out MonthSpend
	err := c.call(ctx, http.MethodGet, "/api/usage", nil, &out)
	return out, err
}
