// netplan's YAML, read with libyaml (the parser netplan itself reads its files with):
// text -> a tree of mappings, sequences and scalars. Pure; fed text, never paths. It reads
// what netplan reads, as netplan reads it: the first document only (netplan loads one and
// never looks further), anchors and aliases (cloud-init's `dhcp4-overrides: &id001` ...
// `dhcp6-overrides: *id001`: the alias is the anchored node itself, shared), tags
// ignored but for `!!str`, a repeated key kept twice in document order (netplan reads
// each in turn, so the last one's value stands), block scalars, and libyaml's own refusals
// (a tab in indentation, an undefined alias, an anchor defined twice). The input is not
// trusted, so what could make a walk of the tree cost without bound is an error too, where
// netplan would go on: nesting deeper than kYamlMaxDepth, aliases that stand for more than
// kYamlMaxAliasNodes nodes (an "alias bomb": each level doubles the one below), an alias
// inside the node it names (a cycle), and a mapping key that is not a scalar.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ec2nc {

/// Collections nested deeper than this are an error (netplan's deepest is 6).
constexpr int kYamlMaxDepth = 64;
/// At most this many nodes, counted as if each alias were a copy of its node, may stand
/// behind the aliases of one document (cloud-init's use a handful).
constexpr size_t kYamlMaxAliasNodes = 10000;

/// One node of a YAML document.
struct YamlNode {
  enum class Kind { Null, Scalar, Map, Seq };
  Kind kind = Kind::Null;
  std::string scalar;   ///< Scalar and Null: the value, quotes and escapes resolved ("~" stays "~").
  /// Scalar: it was quoted, a block scalar or tagged !!str, so never Null (netplan reads
  /// a boolean's text whatever its style: yaml_bool does too).
  bool quoted = false;
  /// Map: entries in document order (a repeated key keeps both; get() finds the last).
  std::vector<std::pair<std::string, std::shared_ptr<const YamlNode>>> map;
  std::vector<std::shared_ptr<const YamlNode>> seq;  ///< Seq: items.
  int line = 0;         ///< 1-based line where the node starts.

  /// Map: the value of `key` (the last one if repeated), or nullptr.
  const YamlNode* get(const std::string& key) const;
  bool is_map() const { return kind == Kind::Map; }
  bool is_seq() const { return kind == Kind::Seq; }
  bool is_scalar() const { return kind == Kind::Scalar; }
};

/// Outcome of parse_yaml.
struct YamlParse {
  std::shared_ptr<const YamlNode> root;  ///< Null node for an empty document; nullptr on error.
  std::string error;  ///< "line N, column C: what" (libyaml's words and mark) when root is nullptr.
};

/// Parses the first document of `text` (UTF-8, or UTF-16 with a byte-order mark).
YamlParse parse_yaml(const std::string& text);

/// A boolean as netplan reads one: the scalar's text, quoted or not, is true/false, yes/no,
/// on/off or y/n in any case. False when `n` is not one; then *value is untouched.
bool yaml_bool(const YamlNode& n, bool* value);

/// `s` as a YAML double-quoted scalar that reads back as `s` when `s` is UTF-8 (escapes
/// quotes, backslashes, control characters and the characters libyaml reads as line
/// breaks). Bytes that are not UTF-8 are copied as they are: no YAML can hold them, and
/// libyaml (so netplan) refuses the text.
std::string yaml_quote(const std::string& s);

}  // namespace ec2nc
