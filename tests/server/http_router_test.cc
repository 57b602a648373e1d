#include "server/http_router.h"

#include <gtest/gtest.h>

namespace berth::server {
namespace {

using boost::beast::http::verb;

TEST(HttpRouter, MatchesEveryRoute) {
  struct Case {
    verb method;
    const char* target;
    Route route;
    const char* model;
    int64_t version;
  } cases[] = {
      {verb::get, "/v2/health/live", Route::kHealthLive, "", 0},
      {verb::get, "/v2/health/ready", Route::kHealthReady, "", 0},
      {verb::head, "/health", Route::kHealthReady, "", 0},
      {verb::get, "/v2", Route::kServerMetadata, "", 0},
      {verb::get, "/v2/models/digits", Route::kModelMetadata, "digits", 0},
      {verb::get, "/v2/models/digits/versions/3", Route::kModelMetadata, "digits", 3},
      {verb::get, "/v2/models/digits/ready", Route::kModelReady, "digits", 0},
      {verb::get, "/v2/models/digits/versions/2/ready", Route::kModelReady, "digits", 2},
      {verb::post, "/v2/models/digits/infer", Route::kModelInfer, "digits", 0},
      {verb::post, "/v2/models/my.model-1/versions/12/infer?x=1", Route::kModelInfer, "my.model-1", 12},
      {verb::get, "/v2/models/digits/config", Route::kModelConfig, "digits", 0},
      {verb::get, "/v2/models/stats", Route::kModelStats, "", 0},
      {verb::get, "/v2/models/digits/stats", Route::kModelStats, "digits", 0},
      {verb::get, "/v2/models/digits/versions/1/stats", Route::kModelStats, "digits", 1},
      {verb::post, "/v2/repository/index", Route::kRepositoryIndex, "", 0},
      {verb::post, "/v2/repository/models/digits/load", Route::kRepositoryLoad, "digits", 0},
      {verb::post, "/v2/repository/models/digits/unload", Route::kRepositoryUnload, "digits", 0},
      {verb::get, "/metrics", Route::kMetrics, "", 0},
      {verb::get, "/v2/models/digits/explain", Route::kNotFound, "", 0},
      {verb::get, "/v2/models/a/b/c/d/e/f/g", Route::kNotFound, "", 0},
      {verb::get, "/", Route::kNotFound, "", 0},
  };
  for (const auto& c : cases) {
    RouteMatch match = MatchRoute(c.method, c.target);
    EXPECT_TRUE(match.error.ok()) << c.target << ": " << match.error.message();
    EXPECT_EQ(match.route, c.route) << c.target;
    EXPECT_EQ(match.model, c.model) << c.target;
    EXPECT_EQ(match.version, c.version) << c.target;
    EXPECT_TRUE(match.method_allowed) << c.target;
  }
}

TEST(HttpRouter, WrongMethodIsReported) {
  RouteMatch match = MatchRoute(verb::get, "/v2/models/digits/infer");
  EXPECT_EQ(match.route, Route::kModelInfer);
  EXPECT_FALSE(match.method_allowed);
  EXPECT_EQ(match.allow, "POST");
}

TEST(HttpRouter, RefusesTraversalAndBadNames) {
  for (const char* target :
       {"/v2/models/../x/infer", "/v2/models/..%2Fetc/infer", "/v2/models/%2e%2e/infer", "/v2/models/a%2Fb/infer",
        "/v2/models/%zz/infer", "/v2/models/.hidden/infer", "/v2/models/a b/infer",
        "/v2/models/digits/versions/0/infer", "/v2/models/digits/versions/-1/infer",
        "/v2/models/digits/versions/1e3/infer", "/v2/repository/models/..%2F..%2Ftmp/load", "relative"}) {
    RouteMatch match = MatchRoute(verb::post, target);
    EXPECT_FALSE(match.error.ok()) << target;
    EXPECT_EQ(match.error.code(), core::StatusCode::kInvalidArgument) << target;
  }
}

TEST(HttpRouter, AuthAndLogLevels) {
  EXPECT_FALSE(RouteRequiresAuth(Route::kHealthLive));
  EXPECT_FALSE(RouteRequiresAuth(Route::kHealthReady));
  EXPECT_TRUE(RouteRequiresAuth(Route::kMetrics));
  EXPECT_TRUE(RouteRequiresAuth(Route::kNotFound));
  EXPECT_TRUE(RouteIsQuiet(Route::kMetrics));
  EXPECT_FALSE(RouteIsQuiet(Route::kModelInfer));
}

}  // namespace
}  // namespace berth::server
