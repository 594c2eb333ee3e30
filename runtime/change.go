package runtime

import (
	"fmt"
	"net/http"
)

// NotDeployed is ChangeOptions.IfVersion that requires the function not to be deployed.
const NotDeployed = -1

// ChangeOptions qualify a deploy or a rollback (docs/cli.md#edgefn-deploy).
type ChangeOptions struct {
	// IfVersion, when not 0, refuses the change with a 409 version_conflict unless the
	// function's current version is IfVersion (NotDeployed: unless it has none).
	IfVersion int
	// By says who asked for the change; a shared registry keeps it with the version.
	By string
}

// ErrVersionConflict is a change refused by its IfVersion; the message says the version.
var ErrVersionConflict = &Error{Status: http.StatusConflict, Code: "version_conflict", Message: "the current version is not the one required"}

// check returns ErrVersionConflict, with the versions, when current is not o.IfVersion.
func (o ChangeOptions) check(name string, current int) error {
	return CheckVersion(name, o.IfVersion, current)
}

// CheckVersion is ChangeOptions.check for a function whose current version is current
// (0: not deployed).
func CheckVersion(name string, ifVersion, current int) error {
	switch {
	case ifVersion == 0:
		return nil
	case ifVersion == NotDeployed && current == 0, ifVersion == current:
		return nil
	case ifVersion == NotDeployed:
		return &Error{Status: http.StatusConflict, Code: ErrVersionConflict.Code,
			Message: fmt.Sprintf("function %q is deployed (version %d)", name, current)}
	case current == 0:
		return &Error{Status: http.StatusConflict, Code: ErrVersionConflict.Code,
			Message: fmt.Sprintf("function %q is not deployed, not at version %d", name, ifVersion)}
	}
	return &Error{Status: http.StatusConflict, Code: ErrVersionConflict.Code,
		Message: fmt.Sprintf("function %q is at version %d, not %d", name, current, ifVersion)}
}
