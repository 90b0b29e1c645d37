package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/eventflow/eventflow/pkg/functionfile"
)

// OpenAPIDocument is the OpenAPI 3 description of this API; a test keeps it
// in step with the routes New registers.
//
//go:embed openapi.json
var OpenAPIDocument []byte

func (a *API) openapi(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", OpenAPIDocument)
}

// functionFileSchema serves the function file's JSON Schema, so editors can
// fetch it from the gateway a project deploys to.
func (a *API) functionFileSchema(c *gin.Context) {
	c.Data(http.StatusOK, "application/schema+json", functionfile.Schema())
}
