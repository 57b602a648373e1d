// AWS Signature V4 against AWS's published test suite ("Signature Version 4
// test suite", formerly docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html;
// copies ship with AWS's SDKs, e.g. aws-cli tests/unit/auth/aws4_testsuite and
// aws-c-auth tests/aws-signing-test-suite). For each case the canonical
// request (.creq), the string to sign (.sts) and the Authorization header
// (.authz) are reproduced exactly.
#include "fetch/aws_sigv4.h"

#include <gtest/gtest.h>

#include <chrono>

namespace berth::fetch {
namespace {

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The suite's credentials.
AwsCredentials SuiteCredentials() { return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""}; }

// 2015 edition: host example.amazonaws.com, service "service", x-amz-date.
SigV4Scope Scope2015() { return {"us-east-1", "service", "20150830T123600Z"}; }
SigV4Request Request2015(const std::string& method, const std::string& query = "") {
  SigV4Request request;
  request.method = method;
  request.path = "/";
  request.query = query;
  request.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  request.payload_sha256 = kEmptySha256;
  return request;
}

// 2011 edition: host host.foo.com, service "host", a Date header.
SigV4Scope Scope2011() { return {"us-east-1", "host", "20110909T233600Z"}; }
SigV4Request Request2011(const std::string& method, const std::string& query = "") {
  SigV4Request request;
  request.method = method;
  request.path = "/";
  request.query = query;
  request.headers = {{"Date", "Mon, 09 Sep 2011 23:36:00 GMT"}, {"Host", "host.foo.com"}};
  request.payload_sha256 = kEmptySha256;
  return request;
}

TEST(AwsSigV4Test, GetVanilla) {
  SigV4Signature s = SignV4(Request2015("GET"), SuiteCredentials(), Scope2015());
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(AwsSigV4Test, PostVanilla) {
  SigV4Signature s = SignV4(Request2015("POST"), SuiteCredentials(), Scope2015());
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(AwsSigV4Test, GetVanillaQueryOrderKeyCase) {
  SigV4Signature s = SignV4(Request2015("GET", "Param2=value2&Param1=value1"), SuiteCredentials(), Scope2015());
  EXPECT_EQ(s.canonical_request,
            "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(AwsSigV4Test, GetVanillaQueryOrderValue) {
  SigV4Signature s = SignV4(Request2015("GET", "Param1=value2&Param1=value1"), SuiteCredentials(), Scope2015());
  EXPECT_NE(s.canonical_request.find("\nParam1=value1&Param1=value2\n"), std::string::npos);
  EXPECT_EQ(s.signature, "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
}

TEST(AwsSigV4Test, PostXWwwFormUrlencoded) {
  SigV4Request request = Request2015("POST");
  request.headers.insert(request.headers.begin(), {"Content-Type", "application/x-www-form-urlencoded"});
  request.payload_sha256 = Sha256Hex("Param1=value1");
  EXPECT_EQ(request.payload_sha256, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  SigV4Signature s = SignV4(request, SuiteCredentials(), Scope2015());
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

// 2011 edition, as in aws-cli's tests/unit/auth/aws4_testsuite.
TEST(AwsSigV4Test, GetVanillaQueryOrderKey2011) {
  SigV4Signature s = SignV4(Request2011("GET", "a=foo&b=foo"), SuiteCredentials(), Scope2011());
  EXPECT_EQ(s.canonical_request,
            "GET\n/\na=foo&b=foo\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
            "2f23d14fe13caebf6dfda346285c6d9c14f49eaca8f5ec55c627dd7404f7a727");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, "
            "Signature=0dc122f3b28b831ab48ba65cb47300de53fbe91b577fe113edac383730254a3b");
}

TEST(AwsSigV4Test, GetVanillaQueryUnreserved2011) {
  const std::string unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  SigV4Signature s = SignV4(Request2011("GET", unreserved + "=" + unreserved), SuiteCredentials(), Scope2011());
  EXPECT_EQ(s.canonical_request, "GET\n/\n" + unreserved + "=" + unreserved +
                                     "\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\ndate;host\n" +
                                     kEmptySha256);
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
            "d2578f3156d4c9d180713d1ff20601d8a3eed0dd35447d24603d7d67414bd6b5");
  EXPECT_EQ(s.signature, "f1498ddb4d6dae767d97c466fb92f1b59a2c71ca29ac954692663f9db03426fb");
}

TEST(AwsSigV4Test, PostXWwwFormUrlencoded2011) {
  SigV4Request request = Request2011("POST");
  request.headers.insert(request.headers.begin(), {"Content-Type", "application/x-www-form-urlencoded"});
  request.payload_sha256 = Sha256Hex("foo=bar");
  SigV4Signature s = SignV4(request, SuiteCredentials(), Scope2011());
  EXPECT_EQ(s.canonical_request,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\ndate:Mon, 09 Sep 2011 23:36:00 GMT\n"
            "host:host.foo.com\n\ncontent-type;date;host\n"
            "3ba8907e7a252327488df390ed517c45b96dead033600219bdca7107d1d3f88a");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
            "4c5c6e4b52fb5fb947a8733982a8a5a61b14f04345cbfe6e739236c76dd48f74");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, "
            "SignedHeaders=content-type;date;host, "
            "Signature=5a15b22cf462f047318703b92e6f4f38884e4a7ab7b1d6426ca46a8bd1c26cbc");
}

TEST(AwsSigV4Test, CanonicalHeadersTrimFoldAndJoinRepeats) {
  // get-header-value-trim: "a   b   c" -> "a b c"; repeated names join with ','.
  auto [canonical, signed_headers] = CanonicalHeaders({{"My-Header2", "\"a   b   c\""},
                                                       {"Host", "example.amazonaws.com"},
                                                       {"My-Header1", " value1 "},
                                                       {"my-header1", "value2"}});
  EXPECT_EQ(canonical, "host:example.amazonaws.com\nmy-header1:value1,value2\nmy-header2:\"a b c\"\n");
  EXPECT_EQ(signed_headers, "host;my-header1;my-header2");
}

TEST(AwsSigV4Test, CanonicalQueryEncodesAndSorts) {
  EXPECT_EQ(CanonicalQueryString(""), "");
  EXPECT_EQ(CanonicalQueryString("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(CanonicalQueryString("list-type=2&prefix=a b"), "list-type=2&prefix=a%20b");
  EXPECT_EQ(CanonicalQueryString("prefix=a%2Fb&empty"), "empty=&prefix=a%2Fb");
}

TEST(AwsSigV4Test, UriEncode) {
  EXPECT_EQ(UriEncode("models/digits 1/model.onnx", true), "models/digits%201/model.onnx");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("\xc3\xa9", false), "%C3%A9");
  EXPECT_EQ(UriDecode("a%20b%2f%zz"), "a b/%zz");
}

TEST(AwsSigV4Test, AmzDate) {
  EXPECT_EQ(AmzDate(std::chrono::system_clock::from_time_t(1440938160)), "20150830T123600Z");
}

}  // namespace
}  // namespace berth::fetch
