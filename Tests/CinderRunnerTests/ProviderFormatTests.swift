import CinderAuth
import CinderModel
@testable import CinderProviders
@testable import CinderRunner
import Testing

@Suite struct ProviderFormatTests {
    @Test func serverSentEventsSurviveAnySplitAndLineEnding() {
        let stream = ": keep-alive\r\nevent: delta\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata: line two\n\ndata: [DONE]\n\n"
        let bytes = Array(stream.utf8)
        for split in 1..<bytes.count {
            var parser = ServerSentEventParser()
            let events = parser.feed(bytes[..<split]) + parser.feed(bytes[split...])
            #expect(events.map(\.data) == ["{\"a\":1}", "line one\nline two", "[DONE]"], "split at \(split)")
            #expect(events.first?.name == "delta")
        }
    }

    @Test func openAIChunksAssembleTextToolCallsAndUsage() throws {
        let chunks = [
            #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}"#,
            #"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":"}}]},"finish_reason":null}]}"#,
            #"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"x\"}"}}]},"finish_reason":"tool_calls"}]}"#,
            #"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4}}}"#,
        ]
        var completion = ChatCompletion()
        for chunk in chunks {
            for event in try OpenAIChatProvider.events(of: try JSONValue(parsing: chunk)) { completion.apply(event) }
        }
        #expect(completion.text == "Hello")
        #expect(completion.toolCalls == [ToolCall(id: "call_1", name: "lookup", arguments: #"{"q":"x"}"#)])
        #expect(completion.finishReason == "tool_calls")
        #expect(completion.usage == TokenUsage(prompt: 12, completion: 5, cachedPrompt: 4))
    }

    @Test func anthropicEventsAssembleTextToolUseAndUsage() throws {
        let events: [(String, String)] = [
            ("message_start", #"{"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
            ("content_block_start", #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"lookup","input":{}}}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\": 1}"}}"#),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#),
            ("message_stop", #"{"type":"message_stop"}"#),
        ]
        var state = AnthropicChatProvider.StreamState()
        var completion = ChatCompletion()
        for (name, data) in events {
            for event in try state.events(of: try JSONValue(parsing: data), named: name) { completion.apply(event) }
        }
        #expect(state.stopped)
        #expect(completion.text == "Hi")
        #expect(completion.toolCalls == [ToolCall(id: "toolu_1", name: "lookup", arguments: #"{"q": 1}"#)])
        #expect(completion.usage == TokenUsage(prompt: 20, completion: 9))
        #expect(throws: ProviderError.self) {
            try state.events(of: try JSONValue(parsing: #"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#), named: "error")
        }
    }

    @Test func anthropicRequestMovesSystemAsideAndNeedsMaxTokens() {
        let body = AnthropicChatProvider.body(
            ChatRequest(model: "claude", messages: [ChatMessage(role: .system, content: "Be brief."), ChatMessage(role: .user, content: "Hi")]))
        #expect(body["system"] == "Be brief.")
        #expect(body["max_tokens"] == .int(AnthropicChatProvider.defaultMaxTokens))
        #expect(body["messages"] == [["role": "user", "content": "Hi"]])
    }

    @Test func modelNamesFollowPhoenix() throws {
        #expect(try ModelReference(parsing: "openai:gpt-4o") == .builtIn(ProviderFamily.named("OPENAI")!, model: "gpt-4o"))
        #expect(try ModelReference(parsing: "ollama:llama3:8b") == .builtIn(ProviderFamily.named("OLLAMA")!, model: "llama3:8b"))
        #expect(try ModelReference(parsing: "custom:7:my-model") == .custom(providerID: "7", model: "my-model"))
        #expect(throws: ModelReference.Invalid.self) { try ModelReference(parsing: "gpt-4o") }
        #expect(throws: ModelReference.Invalid.self) { try ModelReference(parsing: "nosuch:model") }
        #expect(throws: ModelReference.Invalid.self) { try ModelReference(parsing: "google:gemini") }
    }

    @Test func templatesFillVariablesAndRefuseMissingOnes() throws {
        let input: JSONValue = ["question": "Why?", "ctx": ["doc": "A"], "n": 3]
        #expect(try TemplateRenderer.render("Q: {{question}} / {{ ctx.doc }} / {{n}}", format: "MUSTACHE", variables: input) == "Q: Why? / A / 3")
        #expect(try TemplateRenderer.render("Q: {question} {{literal}}", format: "F_STRING", variables: input) == "Q: Why? {literal}")
        #expect(try TemplateRenderer.render("{{question}}", format: "NONE", variables: input) == "{{question}}")
        #expect(throws: PromptTask.Invalid.self) { try TemplateRenderer.render("{{missing}}", format: "MUSTACHE", variables: input) }
    }

    @Test func sealedSecretsOpenOnlyForTheirOrganizationAndName() throws {
        let cipher = SecretCipher(installationSecret: "an installation secret of some length 123")
        let sealed = try cipher.seal("sk-live-123", organization: OrganizationID(2), name: "OPENAI_API_KEY")
        #expect(!String(decoding: sealed, as: UTF8.self).contains("sk-live"))
        #expect(try cipher.open(sealed, organization: OrganizationID(2), name: "OPENAI_API_KEY") == "sk-live-123")
        #expect(throws: SecretCipher.CannotOpen.self) { try cipher.open(sealed, organization: OrganizationID(3), name: "OPENAI_API_KEY") }
        #expect(throws: SecretCipher.CannotOpen.self) { try cipher.open(sealed, organization: OrganizationID(2), name: "ANTHROPIC_API_KEY") }
        var tampered = sealed
        tampered[20] ^= 1
        #expect(throws: SecretCipher.CannotOpen.self) { try cipher.open(tampered, organization: OrganizationID(2), name: "OPENAI_API_KEY") }
        let other = SecretCipher(installationSecret: "another installation secret 456 abcdef")
        #expect(throws: SecretCipher.CannotOpen.self) { try other.open(sealed, organization: OrganizationID(2), name: "OPENAI_API_KEY") }
    }
}
