// RouteTable (the transport's, protocol-free) and the KServe v2 routes as
// they sit in it.
#include "server/http/route_table.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "server/backends/onnx_backend.h"
#include "server/kserve/kserve_routes.h"

namespace berth::server {
namespace {

using boost::beast::http::verb;

Route NamedRoute(verb method, std::string pattern, std::string label = "") {
  Route route;
  route.method = method;
  route.pattern = std::move(pattern);
  route.label = std::move(label);
  route.handler = [](HttpExchange&) {};
  return route;
}

// A protocol of its own: adding one is adding routes, nothing else.
RouteTable ToyTable() {
  RouteTable table;
  table.DefineParameter("id", [](std::string_view id) {
    return id.find_first_not_of("0123456789") == std::string_view::npos && !id.empty()
               ? core::Status::Ok()
               : core::InvalidArgument("'{}' is not an id", id);
  });
  table.Add(NamedRoute(verb::get, "/toy/items"));
  table.Add(NamedRoute(verb::get, "/toy/items/{id}", "/toy/items/{id}"));
  table.Add(NamedRoute(verb::delete_, "/toy/items/{id}", "/toy/items/{id}"));
  table.Add(NamedRoute(verb::get, "/toy/items/{id}/{field}"));
  table.Add(NamedRoute(verb::post, "/toy/items/new/{field}"));
  return table;
}

TEST(RouteTable, MatchesPatternsAndDecodesParameters) {
  RouteTable table = ToyTable();
  RouteMatch match = table.Match(verb::get, "/toy/items/42?verbose=1");
  ASSERT_TRUE(match.error.ok()) << match.error.message();
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->pattern, "/toy/items/{id}");
  EXPECT_EQ(match.Parameter("id"), "42");
  EXPECT_EQ(match.Parameter("absent"), "");
  match = table.Match(verb::get, "/toy/items/7/na%20me");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.Parameter("field"), "na me");
  EXPECT_EQ(table.labels()[match.label], "/toy/items/{id}/{field}");
  EXPECT_EQ(table.labels()[0], "other");
}

TEST(RouteTable, TheMostLiteralPatternWins) {
  RouteTable table = ToyTable();
  RouteMatch match = table.Match(verb::post, "/toy/items/new/colour");
  ASSERT_TRUE(match.error.ok()) << match.error.message();
  EXPECT_EQ(match.route->pattern, "/toy/items/new/{field}");
  EXPECT_TRUE(match.method_allowed);
  // The literal pattern owns the path: GET there is a 405, not "id new".
  match = table.Match(verb::get, "/toy/items/new/colour");
  EXPECT_FALSE(match.method_allowed);
  EXPECT_EQ(match.allow, "POST");
}

TEST(RouteTable, MethodsHeadAndAllow) {
  RouteTable table = ToyTable();
  EXPECT_TRUE(table.Match(verb::head, "/toy/items/1").method_allowed);
  EXPECT_TRUE(table.Match(verb::delete_, "/toy/items/1").method_allowed);
  RouteMatch match = table.Match(verb::put, "/toy/items/1");
  ASSERT_NE(match.route, nullptr);
  EXPECT_FALSE(match.method_allowed);
  EXPECT_EQ(match.allow, "GET, HEAD, DELETE");
}

TEST(RouteTable, BadParametersAndPathsAre400UnknownOnes404) {
  RouteTable table = ToyTable();
  RouteMatch bad = table.Match(verb::get, "/toy/items/x1");
  EXPECT_EQ(bad.error.code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.error.message().find("'x1' is not an id"), std::string::npos);
  for (const char* target : {"/toy/../items", "/toy/items/%2e%2e", "/toy/items/a%2Fb", "/toy/items/%zz", "relative"}) {
    EXPECT_EQ(table.Match(verb::get, target).error.code(), core::StatusCode::kInvalidArgument) << target;
  }
  for (const char* target : {"/toy", "/toy/items/1/2/3", "/", "/a/b/c/d/e/f/g/h/i/j"}) {
    RouteMatch match = table.Match(verb::get, target);
    EXPECT_TRUE(match.error.ok()) << target;
    EXPECT_EQ(match.route, nullptr) << target;
  }
}

// ---------------------------------------------------------------------------
// The KServe v2 routes.

class KServeRouteTable : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("berth-routes-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root_);
    ServerOptions options;
    options.model_repository = root_.string();
    BackendRegistry backends;
    backends.Register(OnnxBackendFactory());
    auto server = Server::Create(options, std::move(backends));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    routes_ = std::make_unique<KServeRoutes>(*server_, JsonLimits{32, 10000});
    routes_->Register(table_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::filesystem::path root_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<KServeRoutes> routes_;
  RouteTable table_;
};

TEST_F(KServeRouteTable, MatchesEveryRoute) {
  struct Case {
    verb method;
    const char* target;
    const char* label;
    const char* model;
    const char* version;
  } cases[] = {
      {verb::get, "/v2/health/live", "/v2/health/live", "", ""},
      {verb::get, "/v2/health/ready", "/v2/health/ready", "", ""},
      {verb::head, "/health", "/v2/health/ready", "", ""},
      {verb::get, "/v2", "/v2", "", ""},
      {verb::get, "/v2/models/digits", "/v2/models/{model}", "digits", ""},
      {verb::get, "/v2/models/digits/versions/3", "/v2/models/{model}", "digits", "3"},
      {verb::get, "/v2/models/digits/ready", "/v2/models/{model}/ready", "digits", ""},
      {verb::get, "/v2/models/digits/versions/2/ready", "/v2/models/{model}/ready", "digits", "2"},
      {verb::post, "/v2/models/digits/infer", "/v2/models/{model}/infer", "digits", ""},
      {verb::post, "/v2/models/my.model-1/versions/12/infer?x=1", "/v2/models/{model}/infer", "my.model-1", "12"},
      {verb::get, "/v2/models/digits/config", "/v2/models/{model}/config", "digits", ""},
      {verb::get, "/v2/models/stats", "/v2/models/{model}/stats", "", ""},
      {verb::get, "/v2/models/digits/stats", "/v2/models/{model}/stats", "digits", ""},
      {verb::get, "/v2/models/digits/versions/1/stats", "/v2/models/{model}/stats", "digits", "1"},
      {verb::post, "/v2/repository/index", "/v2/repository/index", "", ""},
      {verb::post, "/v2/repository/models/digits/load", "/v2/repository/models/{model}/load", "digits", ""},
      {verb::post, "/v2/repository/models/digits/unload", "/v2/repository/models/{model}/unload", "digits", ""},
  };
  for (const auto& c : cases) {
    RouteMatch match = table_.Match(c.method, c.target);
    EXPECT_TRUE(match.error.ok()) << c.target << ": " << match.error.message();
    ASSERT_NE(match.route, nullptr) << c.target;
    EXPECT_EQ(table_.labels()[match.label], c.label) << c.target;
    EXPECT_EQ(match.Parameter("model"), c.model) << c.target;
    EXPECT_EQ(match.Parameter("version"), c.version) << c.target;
    EXPECT_TRUE(match.method_allowed) << c.target;
  }
  for (const char* target :
       {"/v2/models/digits/explain", "/v2/models/a/b/c/d/e/f/g", "/", "/v2/models/m/versions", "/metrics"}) {
    EXPECT_EQ(table_.Match(verb::get, target).route, nullptr) << target;
  }
}

TEST_F(KServeRouteTable, WrongMethodIsReported) {
  RouteMatch match = table_.Match(verb::get, "/v2/models/digits/infer");
  ASSERT_NE(match.route, nullptr);
  EXPECT_FALSE(match.method_allowed);
  EXPECT_EQ(match.allow, "POST");
  match = table_.Match(verb::post, "/v2/models/stats");
  EXPECT_FALSE(match.method_allowed);
  EXPECT_EQ(match.allow, "GET, HEAD");
}

TEST_F(KServeRouteTable, RefusesTraversalAndBadNames) {
  for (const char* target :
       {"/v2/models/../x/infer", "/v2/models/..%2Fetc/infer", "/v2/models/%2e%2e/infer", "/v2/models/a%2Fb/infer",
        "/v2/models/%zz/infer", "/v2/models/.hidden/infer", "/v2/models/a b/infer",
        "/v2/models/digits/versions/0/infer", "/v2/models/digits/versions/-1/infer",
        "/v2/models/digits/versions/1e3/infer", "/v2/repository/models/..%2F..%2Ftmp/load", "relative"}) {
    RouteMatch match = table_.Match(verb::post, target);
    EXPECT_FALSE(match.error.ok()) << target;
    EXPECT_EQ(match.error.code(), core::StatusCode::kInvalidArgument) << target;
  }
}

TEST_F(KServeRouteTable, OnlyProbesGoWithoutAKeyAndAreQuiet) {
  for (const char* target : {"/v2/health/live", "/v2/health/ready", "/health"}) {
    RouteMatch match = table_.Match(verb::get, target);
    ASSERT_NE(match.route, nullptr);
    EXPECT_FALSE(match.route->requires_auth) << target;
    EXPECT_TRUE(match.route->quiet) << target;
  }
  RouteMatch infer = table_.Match(verb::post, "/v2/models/m/infer");
  EXPECT_TRUE(infer.route->requires_auth);
  EXPECT_FALSE(infer.route->quiet);
}

}  // namespace
}  // namespace berth::server
