package llm

import (
	"fmt"
	"regexp"
	"sync"
)

// modelIDRE admits the model ids providers use: claude-sonnet-4-5,
// gpt-4o-2024-08-06, qwen2.5-coder:7b, meta-llama/Llama-3.1-8B, org@version.
// Compiled on first use: this binary is also every sandbox's toolbox,
// which never needs it.
var modelIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}$`) })

// ValidateModelID checks a model id chosen by a user; the message says what
// is allowed.
func ValidateModelID(id string) error {
	if !modelIDRE().MatchString(id) {
		return fmt.Errorf("model %q is not a model id: use 1 to 100 letters, digits and . _ : / @ + -, such as claude-sonnet-4-5 or gpt-4o", id)
	}
	return nil
}
