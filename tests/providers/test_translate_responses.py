"""The Responses <-> chat-completions translation (providers/translate_responses*.py), pure, no server."""

from __future__ import annotations

import orjson
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from accord.errors import BadRequest
from accord.providers.base import Usage
from accord.providers.translate_responses import input_messages, to_chat
from accord.providers.translate_responses_output import Bridge, from_chat, output_items, reasoning_state
from accord.providers.translate_responses_stream import StreamBridge

EVENTS = TypeAdapter(ResponseStreamEvent)


def test_items_become_one_assistant_turn_per_reasoning_message_and_calls():
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "look"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "hm"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Reading both."}]},
        {"type": "function_call", "call_id": "c1", "name": "read", "arguments": '{"p": "a"}'},
        {"type": "function_call", "call_id": "c2", "name": "read", "arguments": '{"p": "b"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "A"},
        {"type": "function_call_output", "call_id": "c2",
         "output": [{"type": "input_text", "text": "B"}, {"type": "input_image", "image_url": "https://x/b.png"}]},
        {"type": "message", "role": "assistant", "content": "done"},
    ]
    assert input_messages(items) == [
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": "Reading both.", "reasoning_content": "hm", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "read", "arguments": '{"p": "a"}'}},
            {"id": "c2", "type": "function", "function": {"name": "read", "arguments": '{"p": "b"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "A"},
        {"role": "tool", "tool_call_id": "c2", "content": "B"},
        # chat tool messages carry text only: a tool's image follows the results as a user message
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/b.png"}}]},
        {"role": "assistant", "content": "done"},
    ]


def test_request_fields_map_to_chat_and_responses_only_fields_stay_behind():
    body = {"model": "m", "instructions": "be brief", "input": "hi", "max_output_tokens": 50, "temperature": 0.3,
            "top_p": 0.9, "reasoning": {"effort": "high", "summary": "auto"}, "store": False, "metadata": {"a": "b"},
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k", "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}},
                      {"type": "web_search"},
                      {"type": "namespace", "name": "ns", "tools": [{"type": "function", "name": "g"}]}],
            "tool_choice": {"type": "function", "name": "f"}, "stream": True}
    chat, conversation, bridge = to_chat(body)
    assert chat == {
        "model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": "d"}},
                  {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {}}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": False,
        "temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "reasoning_effort": "high",
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"},
                                                                   "strict": True}},
        "stream": True, "stream_options": {"include_usage": True}}
    assert conversation == [{"role": "user", "content": "hi"}]  # instructions are not carried to the next turn
    assert bridge.namespace == {"g": "ns"} and bridge.include_blob
    # only hosted tools: no tools, and so no tool_choice (vendors refuse tool_choice without tools)
    chat, _, _ = to_chat({"model": "m", "input": "x", "tools": [{"type": "web_search"}], "tool_choice": "auto"})
    assert "tools" not in chat and "tool_choice" not in chat


@pytest.mark.parametrize("body, says", [
    ({"input": 3}, "`input` must be a string or a list"),
    ({"input": []}, "`input` is empty"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "item_reference is not supported"),
    ({"input": [{"type": "web_search_call"}]}, "'web_search_call' is not supported"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, "Files API"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "call_id is required"),
    ({"input": [{"role": "tool", "content": "x"}]}, "role must be"),
    ({"input": "x", "background": True}, "`background` is not supported"),
    ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format type 'xml'"),
    ({"input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "web_search"}},
     "tool_choice"),
    ({"input": [{"role": "user", "content": 5}]}, "content must be a string or a list"),
    ({"input": ["text"]}, "input[0] must be an object"),
    ({"input": [{"role": "user", "content": [7]}]}, "shape of an OpenAI Responses request"),
])
def test_bad_requests_say_what_to_fix(body, says):
    with pytest.raises(BadRequest) as e:
        to_chat({"model": "m", **body})
    assert says in e.value.message


def test_reasoning_state_survives_in_the_blob_and_comes_back_on_its_turn():
    message = {"role": "assistant", "content": None, "reasoning_content": "think",
               "thinking_blocks": [{"type": "thinking", "thinking": "think", "signature": "sig-a"}],
               "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"},
                               "extra_content": {"google": {"thought_signature": "sig-g"}}}]}
    out = output_items(message, Bridge())
    assert [o["type"] for o in out] == ["reasoning", "function_call"]
    assert out[0]["content"] == [{"type": "reasoning_text", "text": "think"}]
    assert out[0]["encrypted_content"].startswith("accord.r1.")  # signed state: always in the blob
    # as Codex sends it back: without `content`, with `encrypted_content`
    back = [{k: v for k, v in out[0].items() if k != "content"}, out[1],
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}]
    assert input_messages(back)[0] == {k: v for k, v in message.items() if k != "content"} | {"content": None}
    # a blob Accord did not write (OpenAI's own) is opaque: the summary text is what can be sent
    foreign = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": "gAAA"}
    assert reasoning_state(foreign) == {"reasoning_content": "s"}
    # plain reasoning, no blob asked for: the text alone, in `content`
    plain = output_items({"role": "assistant", "content": "x", "reasoning_content": "r"}, Bridge())
    assert "encrypted_content" not in plain[0] and input_messages(plain)[0]["reasoning_content"] == "r"


def test_custom_tools_go_up_as_functions_and_come_back_as_custom_calls():
    body = {"model": "m", "input": "patch it", "tools": [
        {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}]}
    chat, _, bridge = to_chat(body)
    fn = chat["tools"][0]["function"]
    assert fn["name"] == "apply_patch" and "start: /.+/" in fn["description"]
    assert fn["parameters"]["required"] == ["input"]
    data = {"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c9", "type": "function", "function": {"name": "apply_patch", "arguments": '{"input": "*** Begin"}'}}]}}]}
    resp = from_chat(data, body, "resp_1", bridge, Usage(3, 4))
    call = resp["output"][0]
    assert call["type"] == "custom_tool_call" and call["input"] == "*** Begin" and call["call_id"] == "c9"
    assert resp["usage"] == {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                             "output_tokens": 4,
                             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7}
    back = input_messages([call, {"type": "custom_tool_call_output", "call_id": "c9", "output": "applied"}])
    assert back[0]["tool_calls"][0]["function"]["arguments"] == '{"input":"*** Begin"}'
    assert back[1] == {"role": "tool", "tool_call_id": "c9", "content": "applied"}


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta,
                                                                        "finish_reason": finish}]}


def test_stream_events_are_in_openai_order_and_parse_as_the_sdk_types():
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}]}
    sb = StreamBridge(body, "resp_1", Bridge())
    events = sb.start()
    for c in (chunk({"role": "assistant", "content": ""}), chunk({"reasoning_content": "ab"}),
              chunk({"reasoning_content": "c"}), chunk({"content": "Hi"}),
              chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                                     "function": {"name": "f", "arguments": ""}}]}),
              chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                                     "function": {"name": "f", "arguments": "{}"}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
              chunk({}, "tool_calls")):
        events += sb.add(c)
    events += sb.end(Usage(5, 6, reasoning_tokens=2))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.delta", "response.reasoning_text.done", "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:  # each is the SDK's own type, with every required field
        assert EVENTS.validate_python(e).type == e["type"]
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert final["output"][0]["content"][0]["text"] == "abc"
    assert [o["arguments"] for o in final["output"][2:]] == ['{"a":1}', "{}"]
    assert final["usage"]["output_tokens_details"] == {"reasoning_tokens": 2}


def test_a_stream_cut_at_max_tokens_is_incomplete_and_a_failure_is_an_error_then_failed():
    sb = StreamBridge({"model": "m", "input": "x"}, "resp_2", Bridge())
    sb.start()
    sb.add(chunk({"content": "partial"}))
    sb.add(chunk({}, "length"))
    last = sb.end(None)[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    sb = StreamBridge({"model": "m", "input": "x"}, "resp_3", Bridge())
    sb.start()
    events = sb.fail("server_error", "upstream went away")
    assert [e["type"] for e in events] == ["error", "response.failed"]
    assert events[1]["response"]["error"] == {"code": "server_error", "message": "upstream went away"}
    for e in events:
        EVENTS.validate_python(e)


def test_gemini_signatures_come_after_the_reasoning_in_a_stream_and_still_go_back():
    sb = StreamBridge({"model": "m", "input": "x"}, "resp_4", Bridge())
    sb.start()
    sb.add(chunk({"reasoning_content": "plan"}))
    sb.add(chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f",
                                  "arguments": "{}"}, "extra_content": {"google": {"thought_signature": "S"}}}]}))
    final = sb.end(None)[-1]["response"]["output"]
    assert [o["type"] for o in final] == ["reasoning", "function_call", "reasoning"]
    back = input_messages([*final, {"type": "function_call_output", "call_id": "c1", "output": "r"}])
    assert back[0]["reasoning_content"] == "plan"
    assert back[0]["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "S"}}
    assert len(back) == 2  # the signature-only item opened no turn of its own
    assert orjson.dumps(back)  # all plain JSON, as stored


def test_a_call_whose_name_comes_late_is_added_once_named_with_its_arguments_so_far():
    sb = StreamBridge({"model": "m", "input": "x", "tools": [{"type": "custom", "name": "patch"}]}, "resp_5",
                      to_chat({"model": "m", "input": "x", "tools": [{"type": "custom", "name": "patch"}]})[2])
    events = sb.start()
    events += sb.add(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": '{"in'}}]}))
    assert len(events) == 2  # nothing added yet: a function or a custom call?
    events += sb.add(chunk({"tool_calls": [{"index": 0, "function": {"name": "patch", "arguments": 'put": "x"}'}}]}))
    events += sb.end(None)
    kinds = [e["type"] for e in events]
    assert kinds[2:] == ["response.output_item.added", "response.custom_tool_call_input.done",
                         "response.output_item.done", "response.completed"]
    assert events[2]["item"]["type"] == "custom_tool_call" and events[-2]["item"]["input"] == "x"
    for e in events:
        EVENTS.validate_python(e)
