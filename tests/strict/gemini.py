"""The Gemini API's documented generateContent rules and error shapes, for the strict fake.

Pages cited below (fetched for this file):
  GENERATE  https://ai.google.dev/api/generate-content (GenerateContentRequest, GenerationConfig, usageMetadata)
  CONTENT   https://ai.google.dev/api/caching#Content (Content, Part)
  FUNCTIONS https://ai.google.dev/gemini-api/docs/function-calling
  THINKING  https://ai.google.dev/gemini-api/docs/thinking (budgets per model; Gemini 3 thinkingLevel)
  SIGS      https://ai.google.dev/gemini-api/docs/thought-signatures
  ERRORS    https://ai.google.dev/gemini-api/docs/troubleshooting (error codes)
"""

from __future__ import annotations

import re
from collections import Counter

import orjson

from fakes import Reply

from . import Refused, Rule

# ERRORS: "400 INVALID_ARGUMENT, 400 FAILED_PRECONDITION, 403 PERMISSION_DENIED, 404 NOT_FOUND,
# 429 RESOURCE_EXHAUSTED, 500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED"
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
# GENERATE: GenerateContentRequest fields
FIELDS = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig",
          "cachedContent"}
# GENERATE: GenerationConfig fields, as the reference names them (lowerCamelCase)
GENERATION = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
              "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
              "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig",
              "thinkingConfig", "imageConfig", "mediaResolution"}
THINKING = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
# CONTENT: a Part holds exactly one of these, plus the optional `thought` / `thoughtSignature` / metadata
DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
        "codeExecutionResult"}
PART_EXTRA = {"thought", "thoughtSignature", "videoMetadata", "partMetadata"}
# FUNCTIONS: "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contains underscores, dots,
# colons and dashes, with a maximum length of 64"
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")


def bad(message: str) -> Refused:
    return Refused(400, "INVALID_ARGUMENT", message)


def error_reply(r: Refused, retry_after: int = 3) -> Reply:
    """ERRORS / GENERATE: errors are Google API errors `{"error": {"code", "message", "status"}}`."""
    body: dict = {"error": {"code": r.status, "message": r.message, "status": r.kind}}
    if r.status == 429:  # RESOURCE_EXHAUSTED says when to retry in a RetryInfo detail
        body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                     "retryDelay": f"{retry_after}s"}]
    return Reply(status=r.status, error=body)


def error(status: int, message: str = "") -> Reply:
    kind = STATUS[status]
    return error_reply(Refused(status, kind, message or kind.lower().replace("_", " ")))


def issued(reply: Reply) -> None:
    """Gemini signs with the fake's fixed thought signature; nothing to remember."""


def safety_block(prompt_tokens: int = 7) -> Reply:
    """GENERATE (FinishReason SAFETY): a candidate stopped for safety has a finishReason, its safetyRatings and no
    content."""
    data = {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
        "modelVersion": "gemini", "responseId": "fake-safety"}
    return Reply(raw=orjson.dumps(data))


def with_cache_usage(content: str, prompt: int, cached: int, thoughts: int, out: int) -> Reply:
    """GENERATE (UsageMetadata): promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount apart from
    candidatesTokenCount."""
    data = {"candidates": [{"content": {"role": "model", "parts": [{"text": content}]}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "cachedContentTokenCount": cached,
                              "candidatesTokenCount": out, "thoughtsTokenCount": thoughts,
                              "totalTokenCount": prompt + out + thoughts},
            "modelVersion": "gemini", "responseId": "fake-cached"}
    return Reply(raw=orjson.dumps(data))


def _body(rec: dict) -> dict:
    return rec["json"] if isinstance(rec["json"], dict) else {}


def _model(rec: dict) -> str:
    return rec["path"].rsplit("/", 1)[-1].split(":", 1)[0]


def _fields(part: dict) -> set[str]:
    return set(part) & DATA


# ------------------------------------------------------------------------------------------------- rules
# ERRORS: "403 PERMISSION_DENIED: your API key doesn't have the required permissions" (no key at all)
def api_key(rec: dict) -> None:
    if not rec["headers"].get("x-goog-api-key") and not rec["query"].get("key"):
        raise Refused(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                      "established identity). Please use API Key or other form of API consumer identity.")


# GENERATE: only GenerateContentRequest's fields; an unknown one is "Invalid JSON payload received"
def known_fields(rec: dict) -> None:
    for name in _body(rec):
        if name not in FIELDS:
            raise bad(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')


# CONTENT: "role: The producer of the content. Must be either 'user' or 'model'"; the system prompt goes in
# GENERATE's systemInstruction (text parts)
def roles(rec: dict) -> None:
    body = _body(rec)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise bad("* GenerateContentRequest.contents: contents is not specified")
    for i, c in enumerate(contents):
        if not isinstance(c, dict) or c.get("role") not in ("user", "model"):
            raise bad(f"Please use a valid role: user, model. (contents[{i}].role = {c.get('role')!r})")
        if not c.get("parts"):
            raise bad(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
    si = body.get("systemInstruction")
    if si is not None and not all("text" in p for p in (si.get("parts") or [None]) if isinstance(p, dict)):
        raise bad("systemInstruction: only text parts are supported")


# CONTENT: "Part: A datatype containing media ... Must contain only one of the accepted types in Part.data"
def parts(rec: dict) -> None:
    for i, c in enumerate(_body(rec)["contents"]):
        for j, p in enumerate(c["parts"]):
            unknown = set(p) - DATA - PART_EXTRA
            if unknown:
                raise bad(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" at '
                          f"'contents[{i}].parts[{j}]': Cannot find field.")
            if len(_fields(p)) != 1:
                raise bad(f"contents[{i}].parts[{j}]: a part must hold exactly one of {sorted(DATA)}")
            if ("functionCall" in p and c["role"] != "model") or ("functionResponse" in p and c["role"] != "user"):
                raise bad(f"contents[{i}].parts[{j}]: functionCall belongs in a model turn, functionResponse in a "
                          "user turn")


# FUNCTIONS: the function responses follow the model turn that made the calls, one per call with the call's
# name ("Please ensure that the number of function response parts is equal to the number of function call parts
# of the function call turn.")
def function_pairing(rec: dict) -> None:
    contents = _body(rec)["contents"]
    for i, c in enumerate(contents):
        calls = Counter(p["functionCall"].get("name") for p in c["parts"] if "functionCall" in p)
        responses = Counter(p["functionResponse"].get("name") for p in c["parts"] if "functionResponse" in p)
        if responses:
            prev = contents[i - 1] if i else {"parts": []}
            made = Counter(p["functionCall"].get("name") for p in prev["parts"] if "functionCall" in p)
            if sum(responses.values()) != sum(made.values()):
                raise bad("Please ensure that the number of function response parts is equal to the number of "
                          "function call parts of the function call turn.")
            if responses != made:
                raise bad(f"contents[{i}]: function response names {sorted(responses)} do not match the calls "
                          f"{sorted(made)} of the function call turn")
        if calls and i + 1 < len(contents):
            nxt = contents[i + 1]
            if not any("functionResponse" in p for p in nxt["parts"]):
                raise bad(f"contents[{i + 1}]: the function call turn contents[{i}] must be followed by its function "
                          "responses")


# FUNCTIONS: FunctionDeclaration names; `parameters` and `parametersJsonSchema` are alternatives;
# toolConfig.functionCallingConfig.mode AUTO | ANY | NONE | VALIDATED, allowedFunctionNames only with ANY
def tools(rec: dict) -> None:
    body = _body(rec)
    for k, t in enumerate(body.get("tools") or ()):
        for n, d in enumerate(t.get("functionDeclarations") or ()):
            if not FUNCTION_NAME.match(str(d.get("name"))):
                raise bad(f"* GenerateContentRequest.tools[{k}].function_declarations[{n}].name: Invalid function "
                          "name. Must start with a letter or an underscore.")
            if "parameters" in d and "parametersJsonSchema" in d:
                raise bad(f"tools[{k}].function_declarations[{n}]: parameters and parameters_json_schema are "
                          "mutually exclusive")
    fc = (body.get("toolConfig") or {}).get("functionCallingConfig")
    if fc:
        if fc.get("mode", "AUTO") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            raise bad(f"Invalid value at 'tool_config.function_calling_config.mode' ({fc.get('mode')})")
        if fc.get("allowedFunctionNames") and fc.get("mode") not in ("ANY", "VALIDATED"):
            raise bad("allowed_function_names may only be set when the mode is ANY")


# GENERATE (GenerationConfig): the documented field names; temperature [0.0, 2.0], topP (0, 1], topK >= 1,
# maxOutputTokens >= 1, candidateCount 1-8; responseSchema and responseJsonSchema are alternatives and need
# responseMimeType application/json
def generation_config(rec: dict) -> None:
    gc = _body(rec).get("generationConfig")
    if gc is None:
        return
    for name in gc:
        if name not in GENERATION:
            raise bad(f'Invalid JSON payload received. Unknown name "{name}" at \'generation_config\': '
                      "Cannot find field.")
    t, p, k = gc.get("temperature"), gc.get("topP"), gc.get("topK")
    if t is not None and not 0 <= t <= 2:
        raise bad("* GenerateContentRequest.generation_config.temperature: must be in [0.0, 2.0]")
    if p is not None and not 0 < p <= 1:
        raise bad("* GenerateContentRequest.generation_config.top_p: must be in (0.0, 1.0]")
    if k is not None and (not isinstance(k, int) or k < 1):
        raise bad("* GenerateContentRequest.generation_config.top_k: must be a positive integer")
    mot = gc.get("maxOutputTokens")
    if mot is not None and (not isinstance(mot, int) or mot < 1):
        raise bad("* GenerateContentRequest.generation_config.max_output_tokens: must be positive")
    if "responseSchema" in gc and "responseJsonSchema" in gc:
        raise bad("response_schema and response_json_schema cannot both be set")
    if ("responseSchema" in gc or "responseJsonSchema" in gc) and gc.get("responseMimeType") != "application/json":
        raise bad("response_mime_type must be application/json when a response schema is set")


# THINKING: budgets per model: 2.5 Pro 128-32768 ("cannot disable thinking"), 2.5 Flash 0-24576, 2.5 Flash-Lite
# 512-24576 or 0; -1 is dynamic everywhere. Gemini 3 takes thinkingLevel (low | high; Flash also minimal, medium)
# and "cannot use both thinking_level and the legacy thinking_budget parameter in the same request"; its Pro
# cannot turn thinking off. Models without thinking (2.0) refuse a thinkingConfig.
def thinking_config(rec: dict) -> None:
    tc = (_body(rec).get("generationConfig") or {}).get("thinkingConfig")
    if tc is None:
        return
    model = _model(rec)
    for name in tc:
        if name not in THINKING:
            raise bad(f'Invalid JSON payload received. Unknown name "{name}" at '
                      "'generation_config.thinking_config': Cannot find field.")
    if model.startswith(("gemini-2.0", "gemini-1.5")):
        raise bad(f"Thinking is not supported for models/{model}")
    budget, level = tc.get("thinkingBudget"), tc.get("thinkingLevel")
    if model.startswith("gemini-3"):
        if budget is not None and level is not None:
            raise bad("You cannot use both thinking_level and the legacy thinking_budget parameter in the same "
                      "request.")
        levels = ("minimal", "low", "medium", "high") if "flash" in model else ("low", "high")
        if level is not None and str(level).lower() not in levels:
            raise bad(f"thinking_level {level!r} is not supported by {model}")
        if budget == 0 and "pro" in model:
            raise bad("Budget 0 is invalid. This model only works in thinking mode.")
        return
    if level is not None:
        raise bad(f"thinking_level is not supported by {model}; use thinking_budget")
    if budget is None or budget == -1:
        return
    if "flash-lite" in model:
        lo, hi, off = 512, 24_576, True
    elif "flash" in model:
        lo, hi, off = 1, 24_576, True
    else:  # 2.5 Pro
        lo, hi, off = 128, 32_768, False
    if budget == 0 and not off:
        raise bad("Budget 0 is invalid. This model only works in thinking mode.")
    if budget != 0 and not lo <= budget <= hi:
        raise bad(f"The thinking budget {budget} is invalid. Please choose a value between {lo} and {hi}.")


# SIGS: Gemini 3 "returns a 400 error if thought signatures are missing" from the function calls of the current
# turn (every model step since the last user text): the first functionCall part of each step must carry one
def thought_signatures(rec: dict) -> None:
    if not _model(rec).startswith("gemini-3"):
        return
    contents = _body(rec)["contents"]
    start = max((i for i, c in enumerate(contents) if c["role"] == "user"
                 and any("text" in p for p in c["parts"])), default=0)
    for i, c in enumerate(contents[start:], start):
        calls = [p for p in c["parts"] if "functionCall" in p]
        if c["role"] == "model" and calls and "thoughtSignature" not in calls[0]:
            raise bad(f"Function call is missing a thought_signature in functionCall parts. This is required for "
                      f"tools to work correctly. (contents[{i}].parts[0])")


RULES: list[Rule] = [api_key, known_fields, roles, parts, function_pairing, tools, generation_config,
                     thinking_config, thought_signatures]
