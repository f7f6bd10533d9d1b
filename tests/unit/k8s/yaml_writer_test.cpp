#include <catch2/catch.hpp>

#include "supervisor/ctl/yaml_writer.hpp"

using vigil::yaml::Node;
using vigil::yaml::quote;
using vigil::yaml::to_yaml;

TEST_CASE("yaml: every string is double-quoted, so no value changes type or breaks the line") {
    CHECK(quote("on") == "\"on\"");
    CHECK(quote("0755") == "\"0755\"");
    CHECK(quote("a: b # c") == "\"a: b # c\"");
    CHECK(quote("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
    CHECK(quote("two\nlines\tand\r") == "\"two\\nlines\\tand\\r\"");
    CHECK(quote(std::string("nul\0bell\a", 9)) == "\"nul\\x00bell\\x07\"");
    CHECK(quote("") == "\"\"");
}

TEST_CASE("yaml: UTF-8 is kept, YAML 1.1 line breaks and invalid bytes are escaped") {
    CHECK(quote("héllo ✓") == "\"héllo ✓\"");
    CHECK(quote("a\u2028b") == "\"a\\u2028b\"");       // LS: a line break to YAML 1.1
    CHECK(quote("\xc2\x85") == "\"\\x85\"");           // NEL
    CHECK(quote("bad\xff") == "\"bad\\uFFFD\"");       // not UTF-8
    CHECK(quote("\xc0\xaf") == "\"\\uFFFD\\uFFFD\"");  // overlong '/'
    CHECK(quote("\xed\xa0\x80") == "\"\\uFFFD\\uFFFD\\uFFFD\"");  // a surrogate
}

TEST_CASE("yaml: block maps and lists in kubectl's layout") {
    Node root;
    root.set("apiVersion", Node::str("v1"));
    Node& spec = root.set("spec", Node::map());
    spec.set("replicas", Node::num(2));
    spec.set("paused", Node::boolean(false));
    spec.set("empty", Node::map());
    spec.set("none", Node::list());
    Node& list = spec.set("containers", Node::list());
    Node c;
    c.set("name", Node::str("web"));
    c.set("args", Node::list()).push(Node::str("-v"));
    list.push(std::move(c));
    Node nested = Node::list();
    nested.push(Node::str("x"));
    list.push(std::move(nested));
    root.set("image", Node::str("<image of web>", "no image known"));
    CHECK(to_yaml(root) ==
          "apiVersion: \"v1\"\n"
          "spec:\n"
          "  replicas: 2\n"
          "  paused: false\n"
          "  empty: {}\n"
          "  none: []\n"
          "  containers:\n"
          "  - name: \"web\"\n"
          "    args:\n"
          "    - \"-v\"\n"
          "  -\n"
          "    - \"x\"\n"
          "image: \"<image of web>\"  # no image known\n");
}

TEST_CASE("yaml: keys are plain only when they are safe words") {
    Node root;
    root.set("nginx.ingress.kubernetes.io/limit-rpm", Node::str("100"));
    root.set("on", Node::num(1));
    root.set("a b", Node::num(2));
    root.set("-x", Node::num(3));
    CHECK(to_yaml(root) ==
          "nginx.ingress.kubernetes.io/limit-rpm: \"100\"\n"
          "\"on\": 1\n"
          "\"a b\": 2\n"
          "\"-x\": 3\n");
}

TEST_CASE("yaml: comments, one '#' per line") {
    CHECK(vigil::yaml::comment_lines({"one", "", "two\nthree"}) == "# one\n#\n# two\n# three\n");
    Node n = Node::str("v", "a\nb");
    CHECK(to_yaml(n) == "\"v\"  # a b\n");
}
