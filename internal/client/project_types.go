package client

import (
	"context"
	"net/http"
)

// ProjectType is one kind of project the server can build.
type ProjectType struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Emoji       string `json:"emoji"`
	Description string `json:"description"`
	Port        int    `json:"port"`
	// Agent is the agent's specialisation for this type.
	Agent struct {
		Badge       string `json:"badge"`
		Description string `json:"description"`
	} `json:"agent"`
}

// ProjectTypes lists the project types.
func (c *Client) ProjectTypes(ctx context.Context) ([]ProjectType, error) {
	var out struct{ Types []ProjectType }
	err := c.call(ctx, http.MethodGet, "/api/project-types", nil, &out)
	return out.Types, err
}
