// Package project describes the kinds of project a user can create: what
// each is, and how its dev server runs inside a sandbox.
package project

// Type is one kind of project.
type Type struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Emoji       string `json:"emoji"`
	Description string `json:"description"`
	// DevCommand starts the dev server inside the sandbox's workspace.
	DevCommand string `json:"-"`
	// Port is where the dev server listens inside the sandbox.
	Port int `json:"port"`
}

var types = []Type{
	{
		ID:          "website",
		Name:        "Website",
		Emoji:       "🌐",
		Description: "A static site in plain HTML, CSS and JavaScript.",
		DevCommand:  "qv-serve --port 3000 --dir /workspace",
		Port:        3000,
	},
}

// Types lists every project type, in display order.
func Types() []Type {
	return append([]Type(nil), types...)
}

// Lookup finds a project type by id.
func Lookup(id string) (Type, bool) {
	for _, t := range types {
		if t.ID == id {
			return t, true
		}
	}
	return Type{}, false
}
