package llm

import (
	"fmt"
	"strconv"
	"strings"
)

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64
	OutputPerMTok float64
}

// Prices maps model ids to prices; the key "*" prices any other model.
type Prices map[string]Price

// DefaultPrices are list prices at the time of writing; QV_MODEL_PRICES
// overrides or extends them. Unknown models cost what "*" says, which by
// default is a mid-range price so a budget still binds; set "*=0/0" for
// local models that cost nothing.
func DefaultPrices() Prices {
	return Prices{
		"claude-opus-4-1":   {15, 75},
		"claude-sonnet-4-5": {3, 15},
		"claude-sonnet-4-0": {3, 15},
		"claude-haiku-4-5":  {1, 5},
		"gpt-4o":            {2.5, 10},
		"gpt-4o-mini":       {0.15, 0.6},
		"gpt-4.1":           {2, 8},
		"gpt-4.1-mini":      {0.4, 1.6},
		"*":                 {3, 15},
	}
}

// ParsePrices reads "model=input/output,…" (dollars per million tokens) on
// top of base, e.g. "claude-sonnet-4-5=3/15,*=0/0".
func ParsePrices(s string, base Prices) (Prices, error) {
	out := Prices{}
	for k, v := range base {
		out[k] = v
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		model, pair, ok := strings.Cut(item, "=")
		in, outp, ok2 := strings.Cut(pair, "/")
		if !ok || !ok2 || strings.TrimSpace(model) == "" {
			return nil, fmt.Errorf("price %q: want model=input/output, e.g. gpt-4o=2.5/10", item)
		}
		i, err1 := strconv.ParseFloat(strings.TrimSpace(in), 64)
		o, err2 := strconv.ParseFloat(strings.TrimSpace(outp), 64)
		if err1 != nil || err2 != nil || i < 0 || o < 0 {
			return nil, fmt.Errorf("price %q: want non-negative numbers of dollars per million tokens", item)
		}
		out[strings.TrimSpace(model)] = Price{i, o}
	}
	return out, nil
}

// Lookup finds the price of model: an exact id, else the longest id that
// model starts with (dated ids such as claude-sonnet-4-5-20250929), else "*".
func (p Prices) Lookup(model string) Price {
	if pr, ok := p[model]; ok {
		return pr
	}
	best := ""
	for k := range p {
		if k != "*" && strings.HasPrefix(model, k) && len(k) > len(best) {
			best = k
		}
	}
	if best != "" {
		return p[best]
	}
	return p["*"]
}

// Cost is what u cost on model in dollars. Cache writes cost 1.25× and
// cache reads 0.1× the input price, as Anthropic bills them.
func (p Prices) Cost(model string, u Usage) float64 {
	pr := p.Lookup(model)
	in := float64(u.InputTokens) + 1.25*float64(u.CacheCreationInputTokens) + 0.1*float64(u.CacheReadInputTokens)
	return (in*pr.InputPerMTok + float64(u.OutputTokens)*pr.OutputPerMTok) / 1e6
}
