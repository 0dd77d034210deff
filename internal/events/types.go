package events

// Event types of the SSE contract (ARCHITECTURE.md). Extend, never break.
const (
	TypeProgress = "progress"
	TypeMessage  = "message"
	TypeTool     = "tool"
	TypeLog      = "log"
	TypeUsage    = "usage"
	TypeComplete = "complete"
	TypeError    = "error"
	// TypeContext says which files the model saw (events.Context).
	TypeContext = "context"
)

// Progress statuses, in the order a successful run passes them.
const (
	StatusCreating     = "creating"
	StatusInitializing = "initializing"
	StatusGenerating   = "generating"
	StatusWriting      = "writing"
	StatusStarting     = "starting"
	StatusPreview      = "preview"
	StatusComplete     = "complete"
)

// Error codes of terminal error events.
const (
	CodeCancelled      = "cancelled"
	CodeInterrupted    = "interrupted"
	CodeNoModel        = "model_not_configured"
	CodeModel          = "model_error"
	CodeSandbox        = "sandbox_error"
	CodeDevServer      = "dev_server_failed"
	CodeTimeout        = "timeout"
	CodeInternal       = "internal"
	CodeAgentExhausted = "agent_turn_limit"
	// CodeBudget: a model call would pass the per-run or monthly cost cap.
	CodeBudget = "budget_exceeded"
	// CodeFixLimit: the app still had errors after the allowed fix attempts.
	CodeFixLimit = "fix_limit"
)

// IsTerminal reports whether an event of type t ends a run.
func IsTerminal(t string) bool { return t == TypeComplete || t == TypeError }

type Progress struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	SandboxID  string `json:"sandboxId,omitempty"`
	PreviewURL string `json:"previewUrl,omitempty"`
}

type Message struct {
	Type    string `json:"type"` // assistant or user
	Content string `json:"content"`
	Delta   bool   `json:"delta"`
}

type Tool struct {
	ID           string `json:"id,omitempty"`
	Action       string `json:"action"`
	Tool         string `json:"tool"`
	File         string `json:"file,omitempty"`
	LinesAdded   int    `json:"linesAdded,omitempty"`
	LinesRemoved int    `json:"linesRemoved,omitempty"`
	Command      string `json:"command,omitempty"`
	ExitCode     *int   `json:"exitCode,omitempty"`
	Output       string `json:"output,omitempty"`
	Error        string `json:"error,omitempty"`
}

type LogLine struct {
	Stream string `json:"stream"` // stdout, stderr, or system for notices such as model retries
	Line   string `json:"line"`
}

type Usage struct {
	InputTokens              int64 `json:"inputTokens"`
	OutputTokens             int64 `json:"outputTokens"`
	CacheCreationInputTokens int64 `json:"cacheCreationInputTokens"`
	CacheReadInputTokens     int64 `json:"cacheReadInputTokens"`
	// CostUSD is what the run's model calls cost so far, fix attempts
	// included; FixCostUSD is the part spent on fixing errors.
	CostUSD    float64 `json:"costUsd"`
	FixCostUSD float64 `json:"fixCostUsd"`
	Model      string  `json:"model,omitempty"`
}

// Context says which files went into the model's context, and whether old
// turns were compacted to fit.
type Context struct {
	Files        []string `json:"files,omitempty"`
	Compacted    bool     `json:"compacted,omitempty"`
	TokensBefore int      `json:"tokensBefore,omitempty"`
	TokensAfter  int      `json:"tokensAfter,omitempty"`
	DroppedMsgs  int      `json:"droppedMessages,omitempty"`
	ElidedBlocks int      `json:"elidedBlocks,omitempty"`
}

type Complete struct {
	Success    bool   `json:"success"`
	SandboxID  string `json:"sandboxId"`
	PreviewURL string `json:"previewUrl"`
	VersionID  string `json:"versionId,omitempty"`
	Message    string `json:"message"`
}

type Error struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}
