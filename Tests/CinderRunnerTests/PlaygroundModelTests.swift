import CinderAuth
import CinderModel
@testable import CinderProviders
@testable import CinderRunner
import Testing

/// What the playground and server-side experiments add to a prompt: where an example's variables and
/// appended messages come from, custom providers' configurations, and keys given with a job.
@Suite struct PlaygroundModelTests {
    static func task(_ text: String, extra: [String: JSONValue] = [:]) throws -> PromptTask {
        var json: [String: JSONValue] = [
            "model_provider": "OPENAI", "model_name": "m", "template_format": "MUSTACHE",
            "template": ["messages": [["role": "user", "content": [["type": "text", "text": .string(text)]]]]],
        ]
        json.merge(extra) { _, new in new }
        return try PromptTask(.object(json))
    }

    @Test func variablesComeFromTheInputOrFromFullPaths() throws {
        let input: JSONValue = ["question": "Why?"]
        let reference: JSONValue = ["answer": "Because."]
        let metadata: JSONValue = ["i": 3]
        #expect(try Self.task("{{question}}").request(input: input, reference: reference, metadata: metadata).messages.map(\.content) == ["Why?"])
        let full = try Self.task("{{input.question}} {{reference.answer}} {{metadata.i}}", extra: ["template_variables_path": ""])
        #expect(try full.request(input: input, reference: reference, metadata: metadata).messages.map(\.content) == ["Why? Because. 3"])
        let nested = try Self.task("{{answer}}", extra: ["template_variables_path": "reference"])
        #expect(try nested.request(input: input, reference: reference, metadata: metadata).messages.map(\.content) == ["Because."])
        #expect(throws: PromptTask.Invalid.self) { try full.request(input: input, reference: .null, metadata: metadata) }
    }

    @Test func appendedMessagesFollowThePromptsOwn() throws {
        let task = try Self.task("{{question}}", extra: ["appended_messages_path": "input.history"])
        let input: JSONValue = ["question": "Q", "history": [["role": "assistant", "content": "earlier"], ["role": "user", "content": "and now?"]]]
        let request = try task.request(input: input, reference: .null, metadata: .null)
        #expect(request.messages.map(\.content) == ["Q", "earlier", "and now?"])
        #expect(request.messages.map(\.role) == [.user, .assistant, .user])
        #expect(throws: PromptTask.Invalid.self) { try task.request(input: ["question": "Q"], reference: .null, metadata: .null) }
        #expect(try Self.task("x", extra: ["custom_provider_id": 7]).modelChoice == .custom(id: 7))
    }

    @Test func customProviderConfigsAreCheckedAndTheirKeysRedactedAndRestored() throws {
        #expect(throws: CustomProviderConfig.Invalid.self) { try CustomProviderConfig(["openai": [:], "anthropic": [:]]) }
        #expect(throws: CustomProviderConfig.Invalid.self) { try CustomProviderConfig([:]) }
        #expect(throws: CustomProviderConfig.Invalid.self) {
            try CustomProviderConfig(["azureOpenai": ["azureOpenaiAuthenticationMethod": ["apiKey": "k"]]])
        }
        #expect(throws: CustomProviderConfig.Invalid.self) {
            try CustomProviderConfig(["openai": ["openaiClientKwargs": ["defaultHeaders": ["X": 1]]]])
        }
        let config = try CustomProviderConfig([
            "openai": ["openaiAuthenticationMethod": ["apiKey": "sk-real"], "openaiClientKwargs": ["baseUrl": "http://vllm:8000/v1"]]
        ])
        #expect(config.sdk == .openAI && config.family?.id == "OPENAI")
        let credentials = ProviderCredentials(
            directory: ProviderDirectory(transport: ProviderTransport(client: ProviderHTTPClient(stallTimeout: .seconds(1)), timeout: .seconds(1)),
                                         environment: [:], environmentCredentials: false),
            cipher: SecretCipher(installationSecret: "an installation secret of some length 123"))
        let organization = OrganizationID(5)
        let redacted = try config.mapKeys { try credentials.redact($0, organization: organization) }
        let shown = redacted.settings[path: ["openaiAuthenticationMethod", "apiKey"]]?.stringValue ?? ""
        #expect(shown.hasPrefix("redacted:") && !shown.contains("sk-real"))
        let restored = try redacted.mapKeys { try credentials.unredact($0, organization: organization) }
        #expect(restored.settings[path: ["openaiAuthenticationMethod", "apiKey"]]?.stringValue == "sk-real")
        #expect(throws: ProviderError.self) { try credentials.unredact(shown, organization: OrganizationID(6)) }
        #expect(try credentials.unredact("sk-typed", organization: organization) == "sk-typed")
        // Keys given with a job open for that job only.
        let sealed = try #require(try credentials.sealJobCredentials(["OPENAI_API_KEY": "sk-job"], organization: organization, jobID: 9))
        #expect(try credentials.openJobCredentials(sealed, jobID: 9, organization: organization) == ["OPENAI_API_KEY": "sk-job"])
        #expect(throws: ProviderError.self) { try credentials.openJobCredentials(sealed, jobID: 10, organization: organization) }
        #expect(try credentials.openJobCredentials(nil, jobID: 9, organization: organization).isEmpty)
        #expect(try credentials.sealJobCredentials([:], organization: organization, jobID: 9) == nil)
    }
}
