package httpapi

import (
	"net/http"
	"time"

	"github.com/quickvibe/quickvibe/internal/store"
)

// spendJSON is spending by kind (feature work, fix attempts) and in all.
type spendJSON struct {
	Kinds      []spendKindJSON `json:"kinds"`
	CostUSD    float64         `json:"costUsd"`
	FixCostUSD float64         `json:"fixCostUsd"`
}

type spendKindJSON struct {
	store.UsageTotal
	CostUSD float64 `json:"costUsd"`
}

func toSpendJSON(totals []store.UsageTotal) spendJSON {
	out := spendJSON{Kinds: []spendKindJSON{}}
	for _, t := range totals {
		cost := float64(t.CostMicros) / 1e6
		out.Kinds = append(out.Kinds, spendKindJSON{UsageTotal: t, CostUSD: cost})
		out.CostUSD += cost
		if t.Kind == store.UsageFix {
			out.FixCostUSD += cost
		}
	}
	return out
}

// projectUsage is what a project's model calls used and cost.
func (s *Server) projectUsage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.ownedProject(r)
	if err != nil {
		return err
	}
	totals, err := s.Store.UsageByProject(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSpendJSON(totals))
	return nil
}

// runUsage is what a run's model calls used and cost.
func (s *Server) runUsage(w http.ResponseWriter, r *http.Request) error {
	run, err := s.ownedRun(r)
	if err != nil {
		return err
	}
	totals, err := s.Store.UsageByRun(r.Context(), run.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSpendJSON(totals))
	return nil
}

// myUsage is the caller's spending this calendar month (UTC) and the limits.
func (s *Server) myUsage(w http.ResponseWriter, r *http.Request) error {
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	micros, err := s.Store.UserCostSince(r.Context(), currentUser(r.Context()).ID, start)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"monthStart":           start,
		"costUsd":              float64(micros) / 1e6,
		"maxMonthlyCostUsd":    s.Config.Agent.MaxUserMonthlyCostUSD,
		"maxRunCostUsd":        s.Config.Agent.MaxRunCostUSD,
		"maxFixAttemptsPerRun": s.Config.Agent.MaxFixAttempts,
	})
	return nil
}
