#include <gtest/gtest.h>

#include "server/http/auth.h"
#include "server/metrics.h"

namespace berth::server {
namespace {

TEST(Metrics, RendersPrometheusTextFormat) {
  MetricFamily<Counter> requests("x_requests_total", "Requests.", {"model", "outcome"});
  requests.WithLabels({"a\"b", "ok"}).Increment();
  requests.WithLabels({"a\"b", "ok"}).Increment(2);
  MetricFamily<Histogram> latency("x_seconds", "Latency.", {"model"}, std::vector<double>{0.1, 1});
  auto& h = latency.WithLabels({"m"});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string out;
  requests.Render(out);
  latency.Render(out);
  EXPECT_EQ(out,
            "# HELP x_requests_total Requests.\n"
            "# TYPE x_requests_total counter\n"
            "x_requests_total{model=\"a\\\"b\",outcome=\"ok\"} 3\n"
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{model=\"m\",le=\"0.1\"} 1\n"
            "x_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
            "x_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{model=\"m\"} 5.55\n"
            "x_seconds_count{model=\"m\"} 3\n");
}

TEST(Metrics, ServerMetricsIncludeProcessAndBuildInfo) {
  ServerMetrics metrics("1.2.3", "abc");
  metrics.AddCollector([](std::string& out) { out += "# TYPE extra gauge\nextra 1\n"; });
  std::string text = metrics.Render();
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(text.find("process_cpu_seconds_total "), std::string::npos);
  EXPECT_NE(text.find("berth_build_info{version=\"1.2.3\",revision=\"abc\"} 1"), std::string::npos);
  EXPECT_NE(text.find("extra 1\n"), std::string::npos);
}

TEST(ApiKeyAuthenticator, AcceptsOnlyConfiguredBearerKeys) {
  ApiKeyAuthenticator disabled;
  EXPECT_FALSE(disabled.enabled());
  EXPECT_TRUE(disabled.Allows(""));
  ApiKeyAuthenticator auth({"s3cret", "other-key"});
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.Allows("Bearer s3cret"));
  EXPECT_TRUE(auth.Allows("bearer   other-key "));
  EXPECT_FALSE(auth.Allows(""));
  EXPECT_FALSE(auth.Allows("Bearer"));
  EXPECT_FALSE(auth.Allows("Bearer "));
  EXPECT_FALSE(auth.Allows("Bearer s3cre"));
  EXPECT_FALSE(auth.Allows("Bearer s3cret2"));
  EXPECT_FALSE(auth.Allows("Basic s3cret"));
  EXPECT_FALSE(auth.Allows("s3cret"));
}

}  // namespace
}  // namespace berth::server
