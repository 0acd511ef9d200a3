#pragma once
// The OpenAPI 3.0 description of the `da3 serve` API, served at GET /openapi.json.
#include <nlohmann/json.hpp>

namespace da3::server {

nlohmann::json openapi_description();

}  // namespace da3::server
