package client

import (
	"context"
	"net/http"
	"net/url"
)

// CreateProjectWithModel creates a project whose runs use model.
func (c *Client) CreateProjectWithModel(ctx context.Context, name, typ, model string) (Project, error) {
	var p Project
	err := c.call(ctx, http.MethodPost, "/api/projects", map[string]string{"name": name, "type": typ, "model": model}, &p)
	return p, err
}

// PromptWithModel sends a prompt that uses model instead of the project's.
func (c *Client) PromptWithModel(ctx context.Context, projectID, prompt, model string) (string, error) {
	var out struct{ RunID string }
	err := c.call(ctx, http.MethodPost, "/api/projects/"+url.PathEscape(projectID)+"/prompts", map[string]string{"prompt": prompt, "model": model}, &out)
	return out.RunID, err
}
