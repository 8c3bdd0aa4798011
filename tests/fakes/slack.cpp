#include "tests/fakes/slack.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "tests/fakes/json_rules.hpp"

namespace obsgate::fakes {
namespace {

using rules::Characters;
using rules::Member;
using rules::TypeName;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Limits from Slack's Block Kit reference (docs.slack.dev/reference/block-kit) and the changelog
// "Truncating really long messages" (api.slack.com/changelog/2018-04-...).
constexpr std::size_t kMaxBlocks = 50;           // "up to 50 blocks in each message"
constexpr std::size_t kMaxMessageText = 40'000;  // longer text is truncated, not refused
constexpr std::size_t kMaxBlockId = 255;         // block_id, every block
constexpr std::size_t kMaxTextObject = 3'000;    // section text; text objects in general
constexpr std::size_t kMaxFields = 10;           // section fields
constexpr std::size_t kMaxFieldText = 2'000;     // each section field
constexpr std::size_t kMaxHeaderText = 150;      // header, plain_text only
constexpr std::size_t kMaxContextElements = 10;  // context elements
constexpr std::size_t kMaxActionsElements = 25;  // actions elements
constexpr std::size_t kMaxButtonText = 75;       // button text, plain_text only
constexpr std::size_t kMaxActionId = 255;        // button action_id
constexpr std::size_t kMaxButtonUrl = 3'000;     // button url
constexpr std::size_t kMaxButtonValue = 2'000;   // button value

// Block types Slack accepts in a message (Block Kit reference, "Blocks").
constexpr std::string_view kBlockTypes[] = {
    "actions", "context",  "context_actions", "divider", "file",  "header", "image",
    "input",   "markdown", "rich_text",       "section", "table", "video"};

// What Slack says about a message, in its own words: the error word goes in the body.
class MessageCheck {
 public:
  void Problem(std::string_view code, std::string_view pointer, std::string message) {
    if (first_code_.empty()) first_code_ = code;
    problems_.push_back(std::string(code) + ": " + message +
                        " [json-pointer:" + std::string(pointer) + "]");
  }

  void Message(element root) {
    object message;
    if (root.get(message) != simdjson::SUCCESS) {
      Problem("invalid_payload", "",
              std::string("the body is ") + TypeName(root) +
                  ", not a JSON object; send {\"text\": ...}");
      return;
    }
    bool has_content = false;
    element e;
    if (Member(message, "text", e)) {
      std::string_view text;
      if (e.get(text) != simdjson::SUCCESS) {
        Problem("invalid_payload", "/text",
                std::string("text is ") + TypeName(e) + ", not a string");
      } else {
        has_content = !text.empty();
        if (Characters(text) > kMaxMessageText) {
          warnings_.push_back("message_truncated: text has " + std::to_string(Characters(text)) +
                              " characters; Slack keeps the first 40,000");
        }
      }
    }
    if (Member(message, "blocks", e)) {
      array blocks;
      if (e.get(blocks) != simdjson::SUCCESS) {
        Problem("invalid_blocks_format", "/blocks",
                std::string("blocks is ") + TypeName(e) + ", not an array of blocks");
      } else {
        has_content = has_content || blocks.size() > 0;
        Blocks(blocks);
      }
    }
    if (Member(message, "attachments", e)) {
      array attachments;
      if (e.get(attachments) != simdjson::SUCCESS) {
        Problem("invalid_attachments", "/attachments",
                std::string("attachments is ") + TypeName(e) + ", not an array");
      } else {
        has_content = has_content || attachments.size() > 0;
      }
    }
    if (!has_content && problems_.empty()) {
      Problem("no_text", "", "the message has no text, blocks or attachments; set \"text\"");
    }
  }

  std::vector<std::string> problems_;
  std::vector<std::string> warnings_;
  std::string first_code_;

 private:
  void Blocks(array blocks) {
    if (blocks.size() > kMaxBlocks) {
      Problem("invalid_blocks", "/blocks",
              std::to_string(blocks.size()) + " blocks; a message holds at most 50");
    }
    std::size_t i = 0;
    for (element block : blocks) Block(block, "/blocks/" + std::to_string(i++));
  }

  void Block(element e, const std::string& at) {
    object block;
    std::string_view type;
    if (e.get(block) != simdjson::SUCCESS) {
      Problem("invalid_blocks", at, std::string("a block is ") + TypeName(e) + ", not an object");
      return;
    }
    element t;
    if (!Member(block, "type", t) || t.get(type) != simdjson::SUCCESS) {
      Problem("invalid_blocks", at + "/type", "missing required field: type");
      return;
    }
    element id;
    if (Member(block, "block_id", id)) String(id, at + "/block_id", kMaxBlockId, 0);
    if (type == "section") {
      Section(block, at);
    } else if (type == "header") {
      element text;
      if (!Member(block, "text", text)) {
        Problem("invalid_blocks", at + "/text", "missing required field: text");
      } else {
        TextObject(text, at + "/text", kMaxHeaderText, /*plain_only=*/true);
      }
    } else if (type == "context") {
      Context(block, at);
    } else if (type == "actions") {
      Actions(block, at);
    } else if (type == "divider") {
      // Nothing but type and block_id.
    } else if (std::find(std::begin(kBlockTypes), std::end(kBlockTypes), type) ==
               std::end(kBlockTypes)) {
      Problem("invalid_blocks", at + "/type", "unknown block type \"" + std::string(type) + "\"");
    }
  }

  void Section(object block, const std::string& at) {
    element text, fields;
    bool has_text = Member(block, "text", text);
    bool has_fields = Member(block, "fields", fields);
    if (!has_text && !has_fields) {
      Problem("invalid_blocks", at, "a section needs text or fields");
    }
    if (has_text) TextObject(text, at + "/text", kMaxTextObject, false);
    if (has_fields) {
      array list;
      if (fields.get(list) != simdjson::SUCCESS) {
        Problem("invalid_blocks", at + "/fields", "fields must be an array of text objects");
        return;
      }
      if (list.size() > kMaxFields) {
        Problem("invalid_blocks", at + "/fields",
                std::to_string(list.size()) + " fields; a section holds at most 10");
      }
      std::size_t i = 0;
      for (element field : list) {
        TextObject(field, at + "/fields/" + std::to_string(i++), kMaxFieldText, false);
      }
    }
  }

  void Context(object block, const std::string& at) {
    array elements;
    element e;
    if (!Member(block, "elements", e) || e.get(elements) != simdjson::SUCCESS ||
        elements.size() == 0) {
      Problem("invalid_blocks", at + "/elements", "a context needs an array of 1 to 10 elements");
      return;
    }
    if (elements.size() > kMaxContextElements) {
      Problem("invalid_blocks", at + "/elements",
              std::to_string(elements.size()) + " elements; a context holds at most 10");
    }
    std::size_t i = 0;
    for (element item : elements) {
      std::string item_at = at + "/elements/" + std::to_string(i++);
      object o;
      element t;
      std::string_view type;
      if (item.get(o) != simdjson::SUCCESS || !Member(o, "type", t) ||
          t.get(type) != simdjson::SUCCESS) {
        Problem("invalid_blocks", item_at, "a context element needs a type");
      } else if (type == "image") {
        element url, file, alt;
        if (!Member(o, "image_url", url) && !Member(o, "slack_file", file)) {
          Problem("invalid_blocks", item_at, "missing required field: image_url");
        }
        if (!Member(o, "alt_text", alt)) {
          Problem("invalid_blocks", item_at + "/alt_text", "missing required field: alt_text");
        }
      } else {
        TextObject(item, item_at, kMaxTextObject, false);
      }
    }
  }

  void Actions(object block, const std::string& at) {
    array elements;
    element e;
    if (!Member(block, "elements", e) || e.get(elements) != simdjson::SUCCESS ||
        elements.size() == 0) {
      Problem("invalid_blocks", at + "/elements", "an actions block needs 1 to 25 elements");
      return;
    }
    if (elements.size() > kMaxActionsElements) {
      Problem("invalid_blocks", at + "/elements",
              std::to_string(elements.size()) + " elements; an actions block holds at most 25");
    }
    std::size_t i = 0;
    for (element item : elements) {
      std::string item_at = at + "/elements/" + std::to_string(i++);
      object o;
      element t;
      std::string_view type;
      if (item.get(o) != simdjson::SUCCESS || !Member(o, "type", t) ||
          t.get(type) != simdjson::SUCCESS) {
        Problem("invalid_blocks", item_at, "an interactive element needs a type");
      } else if (type == "button") {
        Button(o, item_at);
      }
    }
  }

  void Button(object button, const std::string& at) {
    element e;
    if (!Member(button, "text", e)) {
      Problem("invalid_blocks", at + "/text", "missing required field: text");
    } else {
      TextObject(e, at + "/text", kMaxButtonText, /*plain_only=*/true);
    }
    if (Member(button, "action_id", e)) String(e, at + "/action_id", kMaxActionId, 1);
    if (Member(button, "url", e)) String(e, at + "/url", kMaxButtonUrl, 1);
    if (Member(button, "value", e)) String(e, at + "/value", kMaxButtonValue, 1);
    if (Member(button, "style", e)) {
      std::string_view style;
      if (e.get(style) != simdjson::SUCCESS || (style != "primary" && style != "danger")) {
        Problem("invalid_blocks", at + "/style", "style must be \"primary\" or \"danger\"");
      }
    }
  }

  // A text object: {"type": "plain_text" | "mrkdwn", "text": 1..max characters}.
  void TextObject(element e, const std::string& at, std::size_t max, bool plain_only) {
    object o;
    if (e.get(o) != simdjson::SUCCESS) {
      Problem("invalid_blocks", at,
              std::string("expected a text object, got ") + TypeName(e) +
                  "; write {\"type\": \"mrkdwn\", \"text\": ...}");
      return;
    }
    element t;
    std::string_view type;
    if (!Member(o, "type", t) || t.get(type) != simdjson::SUCCESS ||
        (type != "plain_text" && type != "mrkdwn")) {
      Problem("invalid_blocks", at + "/type", "a text object's type is plain_text or mrkdwn");
    } else if (plain_only && type != "plain_text") {
      Problem("invalid_blocks", at + "/type", "must be plain_text here, not mrkdwn");
    }
    element text;
    if (!Member(o, "text", text)) {
      Problem("invalid_blocks", at + "/text", "missing required field: text");
    } else {
      String(text, at + "/text", max, 1);
    }
  }

  void String(element e, const std::string& at, std::size_t max, std::size_t min) {
    std::string_view s;
    if (e.get(s) != simdjson::SUCCESS) {
      Problem("invalid_blocks", at, std::string("expected a string, got ") + TypeName(e));
      return;
    }
    std::size_t n = Characters(s);
    if (n > max) {
      Problem(
          "invalid_blocks", at,
          "must be less than " + std::to_string(max + 1) + " characters, has " + std::to_string(n));
    } else if (n < min) {
      Problem("invalid_blocks", at, "must be at least " + std::to_string(min) + " character");
    }
  }
};

server::Response SlackText(int status, std::string body) {
  server::Response r;
  r.status = status;
  // Slack answers webhooks with a bare word; the content type it sends is text/html.
  r.content_type = "text/html";
  r.body = std::move(body);
  return r;
}

Verdict JudgeMessage(const server::Request& request, bool) {
  MessageCheck check;
  std::string content_type(request.HeaderValue("Content-Type"));
  std::transform(content_type.begin(), content_type.end(), content_type.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (content_type.rfind("application/json", 0) != 0) {
    check.Problem("invalid_payload", "",
                  "Content-Type is \"" + content_type + "\"; send application/json");
  } else {
    simdjson::dom::parser parser;
    element root;
    if (auto err = parser.parse(request.body).get(root); err != simdjson::SUCCESS) {
      check.Problem("invalid_payload", "",
                    std::string("the body is not JSON: ") + simdjson::error_message(err));
    } else {
      check.Message(root);
    }
  }
  Verdict v;
  v.response = check.problems_.empty() ? SlackText(200, "ok") : SlackText(400, check.first_code_);
  v.problems = std::move(check.problems_);
  v.warnings = std::move(check.warnings_);
  return v;
}

// Error words from Slack's changelog "Improving error conditions for Incoming Webhooks".
server::Response CannedReply(int status) {
  switch (status) {
    case 200:
      return SlackText(status, "ok");
    case 400:
      return SlackText(status, "invalid_payload");
    case 403:
      return SlackText(status, "action_prohibited");
    case 404:
      return SlackText(status, "channel_not_found");
    case 410:
      return SlackText(status, "channel_is_archived");
    case 429:
      return SlackText(status, "rate_limited");
    case 500:
      return SlackText(status, "rollup_error");
    default:
      return SlackText(status, "");
  }
}

}  // namespace

FakeSlack::FakeSlack() : PeerServer(std::string(kPath), JudgeMessage, CannedReply) {}

}  // namespace obsgate::fakes
