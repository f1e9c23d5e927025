module libqwen.dev/qwen

go 1.19
